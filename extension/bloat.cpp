/*
 * bloat.cpp — exact and sampled bloat measurement of heap tables and btree indexes.
 *
 * vigil.measure_bloat() reads a table through the buffer manager with a bulk-read
 * strategy (a small ring of buffers, so a big scan does not evict shared_buffers),
 * under AccessShareLock, checking for interrupts on every page. Each tuple is
 * classified the way pgstattuple does it, so the exact mode reports the same live,
 * dead and free bytes: every normal line pointer is a tuple, live when a dirty
 * snapshot sees it (committed, or in progress and not deleted) and dead otherwise;
 * free space is what the page could still take for a new heap tuple. Unlike a
 * sequential scan it never prunes a page: a measurement changes nothing it measures
 * (pgstattuple's scan may prune, so run it first when comparing the two). The
 * sampled mode reads one random page from each of sample_pages equal slices of the
 * relation and scales the totals up.
 *
 * vigil.measure_index_bloat() does the same for a btree through its leaf level. A sampled
 * page must be one that holds entries or free space: the metapage is never sampled, and
 * when the random page is an inner page the scan walks on through the slice to the next
 * leaf-level page, so that no ratio comes from a page that could not show one.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "result_row.hpp"
#include "relation.hpp"
#include "spi.hpp"
#include "core/bloat_estimate.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "catalog/pg_am_d.h"
#include "catalog/index.h"
#include "catalog/pg_authid_d.h"
#include "catalog/pg_class_d.h"
#include "common/pg_prng.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include <string>

namespace {

using vigil::core::PageTotals;

/*
 * Refuses callers who may not read the table: SELECT on it, or membership in
 * pg_stat_scan_tables (the role meant for tools that scan relations' storage).
 */
void check_read_permission(Oid table_relid, Oid checked_relid) {
    const bool allowed = vigil::pg_call([&] {
        return pg_class_aclcheck(table_relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK ||
               has_privs_of_role(GetUserId(), ROLE_PG_STAT_SCAN_TABLES);
    });
    if (!allowed) {
        const std::string table = vigil::pg_call([&] {
            return quote_qualified_identifier(get_namespace_name(get_rel_namespace(table_relid)),
                                              get_rel_name(table_relid));
        });
        const std::string role = vigil::current_role_ident();
        throw vigil::Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                           "permission denied to measure bloat of " + vigil::relation_label(checked_relid),
                           "Measuring bloat reads every row of the table.",
                           "GRANT SELECT ON " + table + " TO " + role + "; or GRANT pg_stat_scan_tables TO " +
                               role + " (part of pg_monitor).");
    }
}

/* Refuses a negative sample size. */
void check_sample_pages(int32 sample_pages) {
    if (sample_pages < 0)
        throw vigil::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                           "sample_pages must not be negative, not " + std::to_string(sample_pages), "",
                           "Pass 0 to read every page, or the number of pages to sample.");
}

/* Counts one heap page: its tuples by visibility and its free space (pgstattuple's rules).
 * Every heap page is measured. */
bool count_heap_page(Relation rel, BlockNumber blkno, BufferAccessStrategy strategy, PageTotals *totals) {
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    Buffer buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    Page page = BufferGetPage(buf);
    if (!PageIsNew(page)) {
        const OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off)) {
            ItemId lp = PageGetItemId(page, off);
            if (!ItemIdIsNormal(lp))
                continue;
            HeapTupleData tuple;
            tuple.t_data = (HeapTupleHeader)PageGetItem(page, lp);
            tuple.t_len = ItemIdGetLength(lp);
            tuple.t_tableOid = RelationGetRelid(rel);
            ItemPointerSet(&tuple.t_self, blkno, off);
            if (HeapTupleSatisfiesVisibility(&tuple, &dirty, buf)) {
                totals->live_tuples++;
                totals->live_bytes += tuple.t_len;
            } else {
                totals->dead_tuples++;
                totals->dead_bytes += tuple.t_len;
            }
        }
    }
    totals->free_bytes += PageGetHeapFreeSpace(page);
    UnlockReleaseBuffer(buf);
    totals->pages++;
    totals->measured_pages++;
    return true;
}

/*
 * Counts one btree page: items on live leaf pages; empty, deleted and half-dead pages are free.
 * Those are the leaf level, and measured; an inner page (or anything else) holds no entries and
 * is not: a sample that took one would report the whole index as bloat.
 */
bool count_btree_page(Relation rel, BlockNumber blkno, BufferAccessStrategy strategy, PageTotals *totals) {
    Buffer buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    Page page = BufferGetPage(buf);
    bool measured = false;
    if (PageIsNew(page)) {
        totals->free_bytes += BLCKSZ;
        measured = true;
    } else if (PageGetSpecialSize(page) == MAXALIGN(sizeof(BTPageOpaqueData))) {
        BTPageOpaque opaque = BTPageGetOpaque(page);
        if (P_IGNORE(opaque)) {
            totals->free_bytes += BLCKSZ;
            measured = true;
        } else if (P_ISLEAF(opaque)) {
            totals->leaf_pages++;
            totals->free_bytes += PageGetFreeSpace(page);
            const OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
            /* The high key (on every leaf but the rightmost) is not an entry. */
            for (OffsetNumber off = P_FIRSTDATAKEY(opaque); off <= maxoff; off = OffsetNumberNext(off)) {
                ItemId lp = PageGetItemId(page, off);
                if (ItemIdIsDead(lp)) {
                    totals->dead_tuples++;
                    totals->dead_bytes += ItemIdGetLength(lp);
                } else {
                    totals->live_tuples++;
                    totals->live_bytes += ItemIdGetLength(lp);
                }
            }
            measured = true;
        }
    }
    UnlockReleaseBuffer(buf);
    totals->pages++;
    if (measured)
        totals->measured_pages++;
    return measured;
}

/* Counts one page into *totals; true when the page was measured (see PageTotals). */
using PageCounter = bool (*)(Relation, BlockNumber, BufferAccessStrategy, PageTotals *);

/*
 * Reads pages first_block..nblocks-1 of rel: all of them, or, when sample_pages is fewer, a
 * stratified random sample: one measured page from each of sample_pages equal slices, found by
 * walking the slice from a random page until a page can be measured. The sampled totals are
 * scaled up to measurable_pages (the pages the measured ones stand for). *sampled is false when
 * every page was read.
 */
PageTotals scan_pages(Relation rel, BlockNumber first_block, BlockNumber nblocks, int32 sample_pages,
                      PageCounter count_page, uint64 measurable_pages, bool *sampled) {
    PageTotals totals;
    const BlockNumber range = nblocks > first_block ? nblocks - first_block : 0;
    const bool use_sample = vigil::core::is_sampled(sample_pages, range);
    vigil::pg_call([&] {
        BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
        if (use_sample) {
            /*
             * Stratified: one page from each of sample_pages equal slices. Bloat is rarely
             * spread evenly (updated rows move to the end, deletes hit ranges), and a page from
             * every region keeps the error far below a plain random sample's.
             */
            const uint64 n = static_cast<uint64>(sample_pages);
            for (uint64 i = 0; i < n; i++) {
                const vigil::core::PageSlice slice = vigil::core::sample_slice(i, n, range);
                const uint64 start =
                    slice.first + pg_prng_uint64_range(&pg_global_prng_state, 0, slice.end - slice.first - 1);
                for (uint64 k = 0; k < slice.end - slice.first; k++) {
                    CHECK_FOR_INTERRUPTS();
                    const uint64 page = vigil::core::probe_page(slice, start, k);
                    if (count_page(rel, first_block + static_cast<BlockNumber>(page), strategy, &totals))
                        break;
                }
            }
        } else {
            for (BlockNumber blkno = first_block; blkno < nblocks; blkno++) {
                CHECK_FOR_INTERRUPTS();
                count_page(rel, blkno, strategy, &totals);
            }
        }
        FreeAccessStrategy(strategy);
    });
    /* A sample that had to walk every slice to its end read every page: the totals are exact. */
    *sampled = use_sample && totals.pages < range;
    if (*sampled)
        vigil::core::scale_to_range(totals, measurable_pages);
    return totals;
}

/* Refuses another session's temporary table: its pages are not in shared buffers. */
void check_not_other_temp(Relation rel) {
    if (RELATION_IS_OTHER_TEMP(rel))
        throw vigil::Error(ERRCODE_FEATURE_NOT_SUPPORTED, "cannot measure temporary tables of other sessions",
                           "Their pages live in the owning session's local buffers.");
}

/* A byte or row count as a bigint Datum. */
Datum int8_datum(uint64 v) {
    return Int64GetDatum(static_cast<int64>(v));
}

/* The level of a btree's root (0: the root is a leaf), from its metapage. */
uint32 root_level(Relation rel) {
    return vigil::pg_call([&] {
        Buffer buf = ReadBufferExtended(rel, MAIN_FORKNUM, BTREE_METAPAGE, RBM_NORMAL, nullptr);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        const uint32 level = BTPageGetMeta(BufferGetPage(buf))->btm_level;
        UnlockReleaseBuffer(buf);
        return level;
    });
}

/* The method column: "sampled" or "exact". */
Datum method_datum(bool sampled) {
    return vigil::text_datum(sampled ? "sampled" : "exact");
}

} // namespace

/*
 * vigil.measure_bloat(rel regclass, sample_pages int DEFAULT 0)
 *   → (table_bytes, scanned_pages, live_tuples, dead_tuples, live_bytes, dead_bytes,
 *      free_bytes, bloat_ratio, method)
 */
VIGIL_FUNCTION(vigil_measure_bloat) {
    vigil::require_not_null(fcinfo, 0, "rel");
    vigil::require_not_null(fcinfo, 1, "sample_pages", vigil::Default::exists);
    const Oid relid = PG_GETARG_OID(0);
    const int32 sample_pages = PG_GETARG_INT32(1);
    check_sample_pages(sample_pages);

    const char relkind = vigil::pg_call([&] { return get_rel_relkind(relid); });
    if (relkind == '\0')
        throw vigil::no_relation(relid, "table");
    if (relkind == RELKIND_INDEX)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE, vigil::relation_label(relid) + " is an index", "",
                           "Use vigil.measure_index_bloat() for btree indexes.");
    if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW && relkind != RELKIND_TOASTVALUE)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE, vigil::relation_label(relid) + " is not a table",
                           "Only tables, materialized views and TOAST tables have heap pages.",
                           "Pass a table; for a partitioned table, measure each partition.");
    check_read_permission(relid, relid);

    vigil::OpenRelation rel(relid, "table");
    check_not_other_temp(rel.get());
    if (rel.get()->rd_rel->relam != HEAP_TABLE_AM_OID)
        throw vigil::Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                           vigil::relation_label(relid) + " does not use the heap access method",
                           "Only heap tables can be measured.");

    const BlockNumber nblocks = vigil::pg_call([&] { return RelationGetNumberOfBlocks(rel.get()); });
    bool sampled = false;
    const PageTotals t = scan_pages(rel.get(), 0, nblocks, sample_pages, count_heap_page, nblocks, &sampled);
    const uint64 table_bytes = static_cast<uint64>(nblocks) * BLCKSZ;

    Datum values[9] = {
        int8_datum(table_bytes),   int8_datum(t.pages),
        int8_datum(t.live_tuples), int8_datum(t.dead_tuples),
        int8_datum(t.live_bytes),  int8_datum(t.dead_bytes),
        int8_datum(t.free_bytes),  Float8GetDatum(vigil::core::bloat_ratio(table_bytes, t.live_bytes)),
        method_datum(sampled)};
    bool nulls[9] = {};
    return vigil::result_row(fcinfo, values, nulls);
}

/*
 * vigil.measure_index_bloat(idx regclass, sample_pages int DEFAULT 0)
 *   → (index_bytes, scanned_pages, leaf_pages, live_items, dead_items, live_bytes,
 *      dead_bytes, free_bytes, bloat_ratio, method)
 */
VIGIL_FUNCTION(vigil_measure_index_bloat) {
    vigil::require_not_null(fcinfo, 0, "idx");
    vigil::require_not_null(fcinfo, 1, "sample_pages", vigil::Default::exists);
    const Oid relid = PG_GETARG_OID(0);
    const int32 sample_pages = PG_GETARG_INT32(1);
    check_sample_pages(sample_pages);

    const char relkind = vigil::pg_call([&] { return get_rel_relkind(relid); });
    if (relkind == '\0')
        throw vigil::no_relation(relid, "index");
    if (relkind != RELKIND_INDEX)
        throw vigil::Error(ERRCODE_WRONG_OBJECT_TYPE, vigil::relation_label(relid) + " is not an index", "",
                           relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW
                               ? "Use vigil.measure_bloat() for tables."
                               : "Pass a btree index.");
    const Oid table_relid = vigil::pg_call([&] { return IndexGetRelation(relid, false); });
    check_read_permission(table_relid, relid);

    vigil::OpenRelation rel(relid, "index");
    check_not_other_temp(rel.get());
    if (rel.get()->rd_rel->relam != BTREE_AM_OID)
        throw vigil::Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                           vigil::relation_label(relid) + " is not a btree index",
                           "Only btree indexes can be measured.");
    if (!rel.get()->rd_index->indisvalid)
        throw vigil::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                           "index " + vigil::relation_label(relid) + " is not valid",
                           "A failed CREATE INDEX CONCURRENTLY leaves an invalid index.",
                           "Drop it or REINDEX it.");

    const BlockNumber nblocks = vigil::pg_call([&] { return RelationGetNumberOfBlocks(rel.get()); });
    bool sampled = false;
    /* Block 0 is the metapage; the rest is the leaf level and (few) inner pages. */
    const uint64 range = nblocks > BTREE_METAPAGE + 1 ? nblocks - (BTREE_METAPAGE + 1) : 0;
    const uint64 measurable = vigil::core::is_sampled(sample_pages, range)
                                  ? vigil::core::leaf_level_pages(range, root_level(rel.get()))
                                  : range;
    const PageTotals t = scan_pages(rel.get(), BTREE_METAPAGE + 1, nblocks, sample_pages, count_btree_page,
                                    measurable, &sampled);
    if (sampled && t.measured_pages == 0)
        throw vigil::Error(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the sample of index " + vigil::relation_label(relid) + " found no leaf page",
            "Every page the sample read was an inner page, so there is no bloat ratio to report.",
            "Measure every page: vigil.measure_index_bloat(" + vigil::relation_label(relid) + ").");
    const uint64 index_bytes = static_cast<uint64>(nblocks) * BLCKSZ;

    Datum values[10] = {int8_datum(index_bytes),
                        int8_datum(t.pages),
                        int8_datum(t.leaf_pages),
                        int8_datum(t.live_tuples),
                        int8_datum(t.dead_tuples),
                        int8_datum(t.live_bytes),
                        int8_datum(t.dead_bytes),
                        int8_datum(t.free_bytes),
                        Float8GetDatum(vigil::core::bloat_ratio(index_bytes, t.live_bytes)),
                        method_datum(sampled)};
    bool nulls[10] = {};
    return vigil::result_row(fcinfo, values, nulls);
}
