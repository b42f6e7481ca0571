/*
 * sequence_last_value.cpp — vigil.sequence_last_value(seq regclass) → bigint.
 *
 * What pg_sequence_last_value() returns, read without building a relcache entry for the
 * sequence and without keeping its lock to the end of the transaction: the health check
 * "sequences" reads every sequence of the database, and on a database with 10,000 serial
 * columns a relcache entry per sequence cost a fresh session about 300 ms and left 10,000
 * locks in the shared lock table until the call ended.
 *
 * The sequence is locked (RowExclusiveLock, as nextval() and pg_sequence_last_value() do, so
 * a concurrent ALTER SEQUENCE cannot swap its storage underneath), its pg_class row is read
 * from the syscache, its one data page is read through the buffer manager by file node, and
 * the lock is released at once. NULL when the sequence has never been called, when the role
 * has neither SELECT nor USAGE on it, when it is another session's temporary sequence, when
 * it is unlogged on a standby (which has no data for it), or when it was dropped meanwhile.
 */
#include "guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/syscache.h"
}

#include <optional>

namespace {

/* The special space of a sequence's page holds this magic number (commands/sequence.c). */
constexpr uint32 kSequencePageMagic = 0x1717;

/* The sequence state on its data page, which the caller has pinned and share-locked. */
std::optional<int64> last_value_on_page(Buffer buffer) {
    const Page page = BufferGetPage(buffer);
    if (PageGetSpecialSize(page) != MAXALIGN(sizeof(uint32)) ||
        *reinterpret_cast<const uint32 *>(PageGetSpecialPointer(page)) != kSequencePageMagic)
        elog(ERROR, "bad magic number in sequence page");
    const ItemId item = PageGetItemId(page, FirstOffsetNumber);
    if (!ItemIdIsNormal(item))
        elog(ERROR, "sequence page has no tuple");
    const auto header = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, item));
    const auto data =
        reinterpret_cast<Form_pg_sequence_data>(reinterpret_cast<char *>(header) + header->t_hoff);
    if (!data->is_called)
        return std::nullopt;
    return data->last_value;
}

enum class Outcome { Value, NoValue, NotSequence };

struct Reading {
    Outcome outcome = Outcome::NoValue;
    int64 value = 0;
    NameData name; /* set for NotSequence */
};

/* Everything here is PostgreSQL calls: the caller runs it under pg_call(). */
Reading read_sequence(Oid relid) {
    Reading reading;
    bool missing = false;
    if (pg_class_aclcheck_ext(relid, GetUserId(), ACL_SELECT | ACL_USAGE, &missing) != ACLCHECK_OK)
        return reading; /* no privilege, or no such relation */
    LockRelationOid(relid, RowExclusiveLock);
    const HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) { /* dropped before we had the lock */
        UnlockRelationOid(relid, RowExclusiveLock);
        return reading;
    }
    const auto cls = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
    const char kind = cls->relkind;
    const char persistence = cls->relpersistence;
    const Oid nspid = cls->relnamespace;
    reading.name = cls->relname;
    RelFileNode node;
    node.spcNode = OidIsValid(cls->reltablespace) ? cls->reltablespace : MyDatabaseTableSpace;
    node.dbNode = MyDatabaseId;
    node.relNode = cls->relfilenode;
    ReleaseSysCache(tuple);

    std::optional<int64> value;
    if (kind != RELKIND_SEQUENCE) {
        reading.outcome = Outcome::NotSequence;
    } else if (persistence == RELPERSISTENCE_TEMP) {
        /* Temporary sequences live in local buffers: ours are read through the relcache,
         * other sessions' cannot be read at all. */
        if (isTempOrTempToastNamespace(nspid)) {
            const Relation rel = relation_open(relid, NoLock);
            const Buffer buffer = ReadBuffer(rel, 0);
            LockBuffer(buffer, BUFFER_LOCK_SHARE);
            value = last_value_on_page(buffer);
            UnlockReleaseBuffer(buffer);
            relation_close(rel, NoLock);
        }
    } else if (!(persistence == RELPERSISTENCE_UNLOGGED && RecoveryInProgress())) {
        const Buffer buffer = ReadBufferWithoutRelcache(node, MAIN_FORKNUM, 0, RBM_NORMAL, nullptr,
                                                        persistence == RELPERSISTENCE_PERMANENT);
        LockBuffer(buffer, BUFFER_LOCK_SHARE);
        value = last_value_on_page(buffer);
        UnlockReleaseBuffer(buffer);
    }
    UnlockRelationOid(relid, RowExclusiveLock);
    if (value) {
        reading.outcome = Outcome::Value;
        reading.value = *value;
    }
    return reading;
}

} // namespace

/* vigil.sequence_last_value(seq regclass) → bigint */
VIGIL_FUNCTION(vigil_sequence_last_value) {
    const Oid relid = PG_GETARG_OID(0);
    const Reading reading = vigil::pg_call([&] { return read_sequence(relid); });
    if (reading.outcome == Outcome::NotSequence)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE,
                           "\"" + std::string(NameStr(reading.name)) + "\" is not a sequence", "",
                           "Pass a sequence, for example 'orders_id_seq'::regclass.");
    if (reading.outcome == Outcome::NoValue)
        PG_RETURN_NULL();
    PG_RETURN_INT64(reading.value);
}
