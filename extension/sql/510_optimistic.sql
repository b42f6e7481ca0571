
-- Optimistic (version-checked) updates (docs/optimistic-updates.md).

-- The row trigger enable_versioning installs: bumps the version column on every update and
-- rejects (40001) a statement that sets it to anything but the row's current version.
CREATE FUNCTION vigil.versioning_trigger() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'vigil_versioning_trigger';

-- Adds the version column (bigint NOT NULL DEFAULT 1) if absent and installs the trigger.
CREATE FUNCTION vigil.enable_versioning(rel regclass, version_column name DEFAULT 'version')
    RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_enable_versioning';

-- Removes the trigger; the version column stays.
CREATE FUNCTION vigil.disable_versioning(rel regclass)
    RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_disable_versioning';

-- Updates the row whose primary key is key, if its version is still expected_version.
-- status: updated | conflict | not_found.
CREATE FUNCTION vigil.optimistic_update(rel regclass, key jsonb, expected_version bigint, changes jsonb,
                                        version_column name DEFAULT 'version',
                                        OUT status text, OUT new_version bigint, OUT current_version bigint)
    RETURNS record
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_optimistic_update';

-- Deletes the row whose primary key is key, if its version is still expected_version.
-- status: deleted | conflict | not_found.
CREATE FUNCTION vigil.optimistic_delete(rel regclass, key jsonb, expected_version bigint,
                                        version_column name DEFAULT 'version',
                                        OUT status text, OUT current_version bigint)
    RETURNS record
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_optimistic_delete';
