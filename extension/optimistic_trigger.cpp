/*
 * optimistic_trigger.cpp — vigil.versioning_trigger(), the row trigger that checks and bumps a
 * table's version column on every UPDATE.
 */
#include "guard.hpp"
#include "optimistic_table.hpp"
#include "relation.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
}

#include <string>

namespace {

using vigil::optimistic::Column;
using vigil::optimistic::version_column;

/* The largest value a version column of this integer type holds. */
int64 integer_type_max(Oid type) {
    return type == INT2OID ? PG_INT16_MAX : type == INT4OID ? PG_INT32_MAX : PG_INT64_MAX;
}

/* The value of an integer datum of one of those types. */
int64 integer_datum_value(Datum d, Oid type) {
    return type == INT2OID ? DatumGetInt16(d) : type == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
}

/* An integer datum of one of those types (v is known to fit). */
Datum integer_datum(int64 v, Oid type) {
    return type == INT2OID   ? Int16GetDatum(static_cast<int16>(v))
           : type == INT4OID ? Int32GetDatum(static_cast<int32>(v))
                             : Int64GetDatum(v);
}

/*
 * Where a tuple stores its integer column attnum: a byte offset into its data, or -1 when the
 * column is null there or the tuple was stored before the column existed (fewer attributes).
 * Walks the attributes before it once, or uses the cached offset when no varlena or null
 * precedes it.
 */
int32 integer_offset(HeapTuple tuple, TupleDesc desc, AttrNumber attnum) {
    const HeapTupleHeader header = tuple->t_data;
    const bool hasnulls = HeapTupleHasNulls(tuple);
    if (HeapTupleHeaderGetNatts(header) < attnum || (hasnulls && att_isnull(attnum - 1, header->t_bits)))
        return -1;
    const Form_pg_attribute target_att = TupleDescAttr(desc, attnum - 1);
    if (!hasnulls && target_att->attcacheoff >= 0)
        return target_att->attcacheoff;
    const char *data = reinterpret_cast<const char *>(header) + header->t_hoff;
    uint32 off = 0;
    for (int i = 0; i < attnum - 1; i++) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        if (hasnulls && att_isnull(i, header->t_bits))
            continue;
        off = att_align_pointer(off, att->attalign, att->attlen, data + off);
        off = att_addlength_pointer(off, att->attlen, data + off);
    }
    return static_cast<int32>(att_align_nominal(off, target_att->attalign));
}

/* The start of a tuple's attribute data. */
char *tuple_data(HeapTuple tuple) {
    return reinterpret_cast<char *>(tuple->t_data) + tuple->t_data->t_hoff;
}

/* The value of an integer field of this type. */
int64 read_integer(const char *field, Oid type) {
    if (type == INT2OID) {
        int16 v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    if (type == INT4OID) {
        int32 v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    int64 v;
    memcpy(&v, field, sizeof v);
    return v;
}

/* Stores value (known to fit the type) in an integer field. */
void write_integer(char *field, Oid type, int64 value) {
    if (type == INT2OID) {
        const int16 v = static_cast<int16>(value);
        memcpy(field, &v, sizeof v);
    } else if (type == INT4OID) {
        const int32 v = static_cast<int32>(value);
        memcpy(field, &v, sizeof v);
    } else {
        memcpy(field, &value, sizeof value);
    }
}

/*
 * A copy of tuple whose integer column attnum holds value. The copy is patched in place, which
 * costs a memcpy instead of deforming and re-forming the row; a tuple that stores the column as
 * null or predates it is rebuilt the general way.
 */
HeapTuple with_version(HeapTuple tuple, TupleDesc desc, AttrNumber attnum, Oid type, int64 value) {
    return vigil::pg_call([&] {
        const int32 off = integer_offset(tuple, desc, attnum);
        if (off < 0) {
            Datum d = integer_datum(value, type);
            bool isnull = false;
            int column = attnum;
            return heap_modify_tuple_by_cols(tuple, desc, 1, &column, &d, &isnull);
        }
        HeapTuple copy = heap_copytuple(tuple);
        write_integer(tuple_data(copy) + off, type, value);
        return copy;
    });
}

} // namespace

/*
 * vigil.versioning_trigger() — BEFORE UPDATE FOR EACH ROW, argument: the version column.
 * A statement that leaves the version alone or sets it to the row's current version gets the
 * version bumped by one; one that sets any other value is a lost update and fails with 40001.
 */
VIGIL_FUNCTION(vigil_versioning_trigger) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        throw vigil::Error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                           "vigil.versioning_trigger() must be called as a trigger", "",
                           "Install it with vigil.enable_versioning().");
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_UPDATE(td->tg_event) || td->tg_trigger->tgnargs != 1)
        throw vigil::Error(
            ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "vigil.versioning_trigger() must fire BEFORE UPDATE FOR EACH ROW with one argument", "",
            "Install it with vigil.enable_versioning().");
    const Relation rel = td->tg_relation;
    const TupleDesc desc = RelationGetDescr(rel);

    /* The column's position is looked up once per statement and relation (fn_extra lives as
     * long as the statement's trigger state). */
    struct Cached {
        Oid relid;
        AttrNumber attnum;
        Oid type;
    };
    auto *cached = static_cast<Cached *>(fcinfo->flinfo->fn_extra);
    if (cached == nullptr || cached->relid != RelationGetRelid(rel)) {
        const Column col = version_column(rel, td->tg_trigger->tgargs[0]);
        cached = vigil::pg_call([&] {
            return static_cast<Cached *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Cached)));
        });
        *cached = Cached{RelationGetRelid(rel), col.attnum, col.type};
        fcinfo->flinfo->fn_extra = cached;
    }

    const auto require_room = [&](int64 version) {
        if (version >= integer_type_max(cached->type))
            throw vigil::Error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                               "version column \"" + std::string(td->tg_trigger->tgargs[0]) + "\" of table " +
                                   vigil::qualified_relation_label(rel) + " is out of range");
    };

    /* The common case: the statement does not assign the version column, so the new row carries
     * the old row's version (or what a BEFORE trigger firing earlier put there) and there is no
     * conflict to look for. Only the new row is read, with one pass over the attributes before
     * the column, and a copy of it is patched. */
    if (!bms_is_member(cached->attnum - FirstLowInvalidHeapAttributeNumber, td->tg_updatedcols)) {
        const int32 off = integer_offset(td->tg_newtuple, desc, cached->attnum);
        if (off >= 0) {
            const int64 version = read_integer(tuple_data(td->tg_newtuple) + off, cached->type);
            require_room(version);
            HeapTuple copy = vigil::pg_call([&] { return heap_copytuple(td->tg_newtuple); });
            write_integer(tuple_data(copy) + off, cached->type, version + 1);
            return PointerGetDatum(copy);
        }
    }

    bool old_null = false;
    bool new_null = false;
    const Datum old_d = heap_getattr(td->tg_trigtuple, cached->attnum, desc, &old_null);
    const Datum new_d = heap_getattr(td->tg_newtuple, cached->attnum, desc, &new_null);
    const int64 old_v = old_null ? 0 : integer_datum_value(old_d, cached->type);
    const int64 new_v = new_null ? 0 : integer_datum_value(new_d, cached->type);
    if (new_null && !old_null)
        throw vigil::Error(ERRCODE_NOT_NULL_VIOLATION,
                           "version column \"" + std::string(td->tg_trigger->tgargs[0]) + "\" of table " +
                               vigil::qualified_relation_label(rel) + " must not be set to null");
    if (new_null != old_null || new_v != old_v)
        throw vigil::Error(ERRCODE_T_R_SERIALIZATION_FAILURE,
                           "version conflict on table " + vigil::qualified_relation_label(rel),
                           "The statement expected version " +
                               (new_null ? std::string("NULL") : std::to_string(new_v)) +
                               " but the row is at version " +
                               (old_null ? std::string("NULL") : std::to_string(old_v)) + ".",
                           "Another transaction changed the row since it was read: read it again and retry.");
    require_room(old_v);
    return PointerGetDatum(with_version(td->tg_newtuple, desc, cached->attnum, cached->type, old_v + 1));
}
