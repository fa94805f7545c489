//! The publish plan: entries grouped into PutEvents requests of at most 10 entries and at most the
//! request size limit, never reordering two changes of the same key.
//!
//! A request holds at most one entry per ordering key, so a partial failure of a request (some
//! entries published, a failed one retried later) cannot reorder a key either. Entries of
//! different keys may move to an earlier request with room, which keeps requests full when a key
//! repeats. A TRUNCATE ([`crate::ports::OrderingKey::Table`]) is a barrier for its table: it goes after every
//! earlier change of the table, and every later change of the table goes after it.

use crate::config::{DEFAULT_MAX_REQUEST_SIZE, MAX_ENTRIES_PER_REQUEST};
use crate::ports::PreparedEntry;
use cdc_models::Table;
use std::collections::hash_map::Entry;

/// FxHash (rustc's hasher, from `rustc-hash`): the plan hashes short ordering keys, many times per
/// batch.
pub(crate) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Limits of one PutEvents request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanLimits {
    /// Entries per request (EventBridge: 10).
    pub max_entries: usize,
    /// Sum of entry sizes per request.
    pub max_request_bytes: usize,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            max_entries: MAX_ENTRIES_PER_REQUEST,
            max_request_bytes: DEFAULT_MAX_REQUEST_SIZE,
        }
    }
}

/// Groups entries into requests: each request is a list of indices into `entries`, in input order.
/// Requests are meant to be sent one after another, in the returned order.
pub fn plan(entries: &[PreparedEntry], limits: &PlanLimits) -> Vec<Vec<usize>> {
    struct Req {
        entries: Vec<usize>,
        bytes: usize,
    }
    let max_entries = limits.max_entries.max(1);
    let mut reqs: Vec<Req> = Vec::new();
    let mut last_of_key: FxMap<(Table, &str), usize> =
        FxMap::with_capacity_and_hasher(entries.len(), Default::default());
    let mut last_of_table: FxMap<Table, usize> = FxMap::default();
    let mut barrier_of_table: FxMap<Table, usize> = FxMap::default();
    let mut first_open = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let table = e.ordering_key.table();
        // The key's slot, found once: read now, written below.
        let key_slot = e.row_key().map(|key| last_of_key.entry((table, key)));
        let min = match &key_slot {
            None => last_of_table.get(&table).map_or(0, |r| r + 1),
            Some(slot) => {
                let after_key = match slot {
                    Entry::Occupied(o) => o.get() + 1,
                    Entry::Vacant(_) => 0,
                };
                let after_barrier = barrier_of_table.get(&table).map_or(0, |r| r + 1);
                after_key.max(after_barrier)
            }
        };
        while first_open < reqs.len() && reqs[first_open].entries.len() >= max_entries {
            first_open += 1;
        }
        let start = min.max(first_open);
        let fits = |r: &Req| {
            r.entries.len() < max_entries
                && (r.entries.is_empty() || r.bytes + e.size <= limits.max_request_bytes)
        };
        let r = match (start..reqs.len()).find(|&r| fits(&reqs[r])) {
            Some(r) => r,
            None => {
                reqs.push(Req {
                    entries: Vec::with_capacity(max_entries),
                    bytes: 0,
                });
                reqs.len() - 1
            }
        };
        reqs[r].entries.push(i);
        reqs[r].bytes += e.size;
        let t = last_of_table.entry(table).or_insert(r);
        *t = (*t).max(r);
        match key_slot {
            Some(Entry::Occupied(mut o)) => {
                o.insert(r);
            }
            Some(Entry::Vacant(v)) => {
                v.insert(r);
            }
            None => {
                barrier_of_table.insert(table, r);
            }
        }
    }
    reqs.into_iter().map(|r| r.entries).collect()
}

/// For each request of a plan (as [`plan`] returns it), the earlier requests it must wait for
/// before it is sent, so that requests in flight together never hold two changes that must keep
/// their order: a row's change waits for the request of the row's previous change and for the
/// table's last TRUNCATE; a TRUNCATE waits for every request of its table since the previous one.
/// A request only starts once what it waits for is answered, so the order holds transitively.
pub fn waits(entries: &[PreparedEntry], requests: &[Vec<usize>]) -> Vec<Vec<usize>> {
    Waits::default().add(entries, requests)
}

/// [`waits`] over a shard's successive plans: requests are numbered on from one plan to the next
/// (the first plan's from 0), and a request also waits for the requests of earlier plans that
/// hold its rows or its table's TRUNCATE, by their numbers. So requests of the next plan can be
/// sent while the previous plan's are still in flight without reordering a key.
///
/// Rows are remembered by the hash of their key (a plan's entries are gone by the next plan):
/// two keys with one hash only make a request wait for one it need not wait for, never the
/// other way round.
#[derive(Debug, Default)]
pub struct Waits {
    last_of_key: FxMap<(Table, u64), usize>,
    since_barrier: FxMap<Table, Vec<usize>>,
    barrier_of_table: FxMap<Table, usize>,
    next: usize,
}

impl Waits {
    /// The waits of the next plan's requests (numbered from the number after the last plan's),
    /// as numbers of requests of this plan or of earlier ones.
    pub fn add(&mut self, entries: &[PreparedEntry], requests: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut out = Vec::with_capacity(requests.len());
        for (r, request) in requests.iter().enumerate() {
            let r = self.next + r;
            let mut waits = Vec::new();
            let keys: Vec<(Table, Option<u64>)> = request
                .iter()
                .map(|&i| {
                    let e = &entries[i];
                    let key = e
                        .row_key()
                        .map(|k| std::hash::BuildHasher::hash_one(self.last_of_key.hasher(), k));
                    (e.ordering_key.table(), key)
                })
                .collect();
            for &(table, key) in &keys {
                match key {
                    Some(key) => {
                        waits.extend(self.last_of_key.get(&(table, key)).copied());
                        waits.extend(self.barrier_of_table.get(&table).copied());
                    }
                    None => {
                        waits.extend(self.barrier_of_table.get(&table).copied());
                        waits.extend(
                            self.since_barrier
                                .get(&table)
                                .into_iter()
                                .flatten()
                                .copied(),
                        );
                    }
                }
            }
            waits.retain(|&w| w < r);
            waits.sort_unstable();
            waits.dedup();
            for (table, key) in keys {
                match key {
                    Some(key) => {
                        self.last_of_key.insert((table, key), r);
                        let list = self.since_barrier.entry(table).or_default();
                        if list.last() != Some(&r) {
                            list.push(r);
                        }
                    }
                    None => {
                        self.barrier_of_table.insert(table, r);
                        self.since_barrier.insert(table, Vec::new());
                    }
                }
            }
            out.push(waits);
        }
        self.next += requests.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::OrderingKey;

    /// An entry of `<t>/<key>` (`<t>/*`: a whole-table change); `t` is one table, any other
    /// name another.
    fn entry(key: &str, size: usize) -> PreparedEntry {
        let (table, row) = key.split_once('/').expect("table/key");
        let table = match table {
            "t" => Table::Users,
            _ => Table::Teams,
        };
        let ordering_key = if row == "*" {
            OrderingKey::Table(table)
        } else {
            OrderingKey::Row {
                table,
                key: 0..row.len(),
            }
        };
        PreparedEntry {
            event_id: "0".repeat(32).parse().unwrap(),
            source: "".into(),
            detail_type: "",
            detail: row.to_string(),
            time: None,
            size,
            ordering_key,
        }
    }

    fn check_order(entries: &[PreparedEntry], reqs: &[Vec<usize>]) {
        let mut req_of = vec![usize::MAX; entries.len()];
        for (r, req) in reqs.iter().enumerate() {
            for &i in req {
                req_of[i] = r;
            }
        }
        assert!(
            req_of.iter().all(|r| *r != usize::MAX),
            "every entry planned"
        );
        for i in 0..entries.len() {
            for j in i + 1..entries.len() {
                let (ti, ki) = (entries[i].ordering_key.table(), entries[i].row_key());
                let (tj, kj) = (entries[j].ordering_key.table(), entries[j].row_key());
                let related = ti == tj && (ki.is_none() || kj.is_none() || ki == kj);
                if related {
                    assert!(
                        req_of[i] < req_of[j],
                        "entries {i} and {j} reordered or together"
                    );
                }
            }
        }
    }

    #[test]
    fn ten_per_request_for_distinct_keys() {
        let entries: Vec<_> = (0..1000).map(|i| entry(&format!("t/{i}"), 500)).collect();
        let reqs = plan(&entries, &PlanLimits::default());
        assert_eq!(reqs.len(), 100);
        check_order(&entries, &reqs);
    }

    #[test]
    fn size_limit_forces_smaller_requests() {
        let entries: Vec<_> = (0..10)
            .map(|i| entry(&format!("t/{i}"), 100 * 1024))
            .collect();
        let reqs = plan(&entries, &PlanLimits::default());
        assert!(reqs.iter().all(|r| r.len() <= 2));
        assert_eq!(reqs.len(), 5);
    }

    /// An entry above the request cap (a 1 MiB bus's large event under the default 256 KiB cap)
    /// goes alone in its request; the entries around it still share requests within the cap.
    #[test]
    fn an_entry_above_the_request_cap_goes_alone() {
        let sizes = [1_000, 1_000, 700 * 1024, 1_000, 1_000];
        let entries: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| entry(&format!("t/{i}"), size))
            .collect();
        let reqs = plan(&entries, &PlanLimits::default());
        assert_eq!(reqs, vec![vec![0, 1, 3, 4], vec![2]]);
        check_order(&entries, &reqs);
    }

    #[test]
    fn hot_keys_and_truncates_keep_order() {
        let mut entries = Vec::new();
        for i in 0..60 {
            entries.push(entry(&format!("t/{}", i % 3), 10));
            if i == 30 {
                entries.push(entry("t/*", 10));
            }
            entries.push(entry(&format!("u/{i}"), 10));
        }
        let reqs = plan(&entries, &PlanLimits::default());
        check_order(&entries, &reqs);
        for req in &reqs {
            assert!(req.len() <= 10);
            assert!(req.windows(2).all(|w| w[0] < w[1]));
        }
        // 121 entries: the hot keys of `t` cannot share requests, but `u` fills them up.
        assert!(reqs.len() <= 25, "{} requests", reqs.len());
        check_waits(&entries, &reqs);
    }

    /// Every pair of related entries in different requests: the later request waits, directly
    /// or through requests it waits for, for the earlier one.
    fn check_waits(entries: &[PreparedEntry], reqs: &[Vec<usize>]) {
        let waits = waits(entries, reqs);
        assert_eq!(waits.len(), reqs.len());
        // Transitive closure: after[r] holds every request r waits for, directly or not.
        let mut after: Vec<std::collections::BTreeSet<usize>> = Vec::new();
        for (r, w) in waits.iter().enumerate() {
            let mut all = std::collections::BTreeSet::new();
            for &x in w {
                assert!(x < r, "request {r} waits for a later request {x}");
                all.insert(x);
                all.extend(after[x].iter().copied());
            }
            after.push(all);
        }
        let mut req_of = vec![0; entries.len()];
        for (r, req) in reqs.iter().enumerate() {
            for &i in req {
                req_of[i] = r;
            }
        }
        for i in 0..entries.len() {
            for j in i + 1..entries.len() {
                let (ti, ki) = (entries[i].ordering_key.table(), entries[i].row_key());
                let (tj, kj) = (entries[j].ordering_key.table(), entries[j].row_key());
                if ti == tj && (ki.is_none() || kj.is_none() || ki == kj) {
                    assert!(
                        after[req_of[j]].contains(&req_of[i]),
                        "entry {j} may be in flight with the related entry {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn distinct_keys_wait_for_nothing() {
        let entries: Vec<_> = (0..100).map(|i| entry(&format!("t/{i}"), 50)).collect();
        let reqs = plan(&entries, &PlanLimits::default());
        assert!(waits(&entries, &reqs).iter().all(Vec::is_empty));
    }

    #[test]
    fn truncate_waits_for_every_earlier_request_of_its_table() {
        let mut entries: Vec<_> = (0..30).map(|i| entry(&format!("t/{i}"), 50)).collect();
        entries.push(entry("t/*", 50));
        entries.extend((0..30).map(|i| entry(&format!("u/{i}"), 50)));
        entries.push(entry("t/5", 50));
        let reqs = plan(&entries, &PlanLimits::default());
        let w = waits(&entries, &reqs);
        // The TRUNCATE's request waits for the three requests of `t` before it.
        let barrier = reqs.iter().position(|r| r.contains(&30)).unwrap();
        assert_eq!(w[barrier], vec![0, 1, 2]);
        check_waits(&entries, &reqs);
    }

    /// Successive plans: a later plan's request waits for the earlier plan's request of the same
    /// row and of its table's TRUNCATE, by their running numbers; unrelated rows wait for nothing.
    #[test]
    fn successive_plans_wait_across_plans() {
        let mut w = Waits::default();
        let first: Vec<_> = (0..20).map(|i| entry(&format!("t/{i}"), 50)).collect();
        let reqs = plan(&first, &PlanLimits::default());
        assert_eq!(reqs.len(), 2);
        assert!(w.add(&first, &reqs).iter().all(Vec::is_empty));
        // Row 15 is in request 1; a fresh row waits for nothing.
        let second = vec![entry("t/15", 50), entry("u/1", 50)];
        let reqs = plan(&second, &PlanLimits::default());
        assert_eq!(w.add(&second, &reqs), vec![vec![1]]);
        // A TRUNCATE of `t` waits for every request of `t` since the last one (0, 1 and 2);
        // the next change of `t` waits for the TRUNCATE's request.
        let third = vec![entry("t/*", 50)];
        let reqs = plan(&third, &PlanLimits::default());
        assert_eq!(w.add(&third, &reqs), vec![vec![0, 1, 2]]);
        let fourth = vec![entry("t/99", 50), entry("u/2", 50)];
        let reqs = plan(&fourth, &PlanLimits::default());
        assert_eq!(w.add(&fourth, &reqs), vec![vec![3]]);
    }
}
