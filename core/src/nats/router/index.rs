//! The subject index: which subscriptions a published subject reaches.
//!
//! A trie of subject tokens, one level per token, with separate branches for
//! the `*` and `>` wildcards, as nats-server's sublist. Lookups of published
//! subjects are memoised in a bounded result cache: a cache hit is one hash
//! lookup. Adding or removing a subscription evicts exactly the cached
//! subjects it matches (one lookup for a literal subscription, a scan of the
//! bounded cache for a wildcard one).

use bytes::Bytes;

use crate::hash::{SeededHashMap, SeededState};
use crate::nats::subject;

/// Identifies a subscription in the router's subscription table.
pub(crate) type SubKey = u32;

/// The subscriptions that match one subject.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Matches {
    /// Plain subscriptions: each one gets the message.
    pub(crate) plain: Vec<SubKey>,
    /// Queue groups (merged by name across wildcard levels): one member of
    /// each gets the message.
    pub(crate) groups: Vec<QueueGroup>,
}

impl Matches {
    /// True when nobody would receive a message.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.groups.is_empty()
    }
}

/// The members of one queue group that match a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueGroup {
    /// Queue group name.
    pub(crate) name: Bytes,
    /// Its matching members.
    pub(crate) members: Vec<SubKey>,
}

#[derive(Debug)]
struct Level {
    literal: SeededHashMap<Bytes, Node>,
    star: Option<Box<Node>>,
    full: Option<Box<Node>>,
}

impl Level {
    fn new(hasher: SeededState) -> Self {
        Level {
            literal: SeededHashMap::with_hasher(hasher),
            star: None,
            full: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.full.is_none()
    }
}

#[derive(Debug)]
struct Node {
    next: Option<Box<Level>>,
    plain: Vec<SubKey>,
    groups: Vec<QueueGroup>,
}

impl Node {
    fn new() -> Self {
        Node {
            next: None,
            plain: Vec::new(),
            groups: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.groups.is_empty() && self.next.is_none()
    }

    fn add_to(&self, out: &mut Matches) {
        out.plain.extend_from_slice(&self.plain);
        for g in &self.groups {
            match out.groups.iter_mut().find(|o| o.name == g.name) {
                Some(o) => o.members.extend_from_slice(&g.members),
                None => out.groups.push(g.clone()),
            }
        }
    }
}

/// Default number of cached lookups.
pub(crate) const DEFAULT_CACHE_SIZE: usize = 4096;

/// Subscriptions indexed by subject, with a result cache.
#[derive(Debug)]
pub(crate) struct SubjectIndex {
    root: Level,
    hasher: SeededState,
    /// Cached subject -> index into `entries`.
    cache: SeededHashMap<Bytes, u32>,
    entries: Vec<Matches>,
    free_entries: Vec<u32>,
    cache_max: usize,
    /// Result of the last uncached lookup (when the cache is disabled).
    uncached: Matches,
    len: usize,
    counters: IndexCounters,
}

/// Life-time counters of a [`SubjectIndex`] (nats-server's sublist stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IndexCounters {
    /// Subscriptions inserted.
    pub(crate) inserts: u64,
    /// Subscriptions removed.
    pub(crate) removes: u64,
    /// Lookups.
    pub(crate) matches: u64,
    /// Lookups answered from the cache.
    pub(crate) cache_hits: u64,
}

impl Default for SubjectIndex {
    fn default() -> Self {
        SubjectIndex::new(DEFAULT_CACHE_SIZE, 0)
    }
}

impl SubjectIndex {
    /// An empty index caching up to `cache_max` lookups, its maps hashed
    /// with `hash_key` (derived from the router's seed, never the key of
    /// its published randomness).
    pub(crate) fn new(cache_max: usize, hash_key: u64) -> Self {
        let hasher = SeededState::new(hash_key);
        SubjectIndex {
            root: Level::new(hasher),
            hasher,
            cache: SeededHashMap::with_hasher(hasher),
            entries: Vec::new(),
            free_entries: Vec::new(),
            cache_max,
            uncached: Matches::default(),
            len: 0,
            counters: IndexCounters::default(),
        }
    }

    /// Number of subscriptions in the index.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds subscription `key` on `subject` (a valid subscription subject),
    /// in queue group `queue` if given.
    pub(crate) fn insert(&mut self, subject: &[u8], queue: Option<&Bytes>, key: SubKey) {
        let hasher = self.hasher;
        let mut level = &mut self.root;
        let mut tokens = subject.split(|&b| b == b'.').peekable();
        while let Some(tok) = tokens.next() {
            let node: &mut Node = match tok {
                b"*" => level.star.get_or_insert_with(|| Box::new(Node::new())),
                b">" => level.full.get_or_insert_with(|| Box::new(Node::new())),
                _ => level
                    .literal
                    .entry(Bytes::copy_from_slice(tok))
                    .or_insert_with(Node::new),
            };
            if tokens.peek().is_none() {
                match queue {
                    None => node.plain.push(key),
                    Some(q) => match node.groups.iter_mut().find(|g| g.name == q) {
                        Some(g) => g.members.push(key),
                        None => node.groups.push(QueueGroup {
                            name: q.clone(),
                            members: vec![key],
                        }),
                    },
                }
                break;
            }
            level = node
                .next
                .get_or_insert_with(|| Box::new(Level::new(hasher)));
        }
        self.len += 1;
        self.counters.inserts += 1;
        self.invalidate(subject);
    }

    /// Removes subscription `key` previously inserted with the same
    /// `subject` and `queue`. Returns false when it was not there.
    pub(crate) fn remove(&mut self, subject: &[u8], queue: Option<&Bytes>, key: SubKey) -> bool {
        let tokens: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
        let found = remove_in(&mut self.root, &tokens, queue, key);
        if found {
            self.len -= 1;
            self.counters.removes += 1;
            self.invalidate(subject);
        }
        found
    }

    /// The subscriptions matching the literal `subject`.
    #[inline]
    pub(crate) fn matches(&mut self, subject: &[u8]) -> &Matches {
        self.counters.matches += 1;
        if let Some(&i) = self.cache.get(subject) {
            self.counters.cache_hits += 1;
            return &self.entries[i as usize];
        }
        let mut out = Matches::default();
        let tokens: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
        collect(&self.root, &tokens, &mut out);
        if self.cache_max == 0 {
            self.uncached = out;
            return &self.uncached;
        }
        if self.cache.len() >= self.cache_max {
            // Evict a quarter, in the map's (deterministic) order.
            let mut evict = self.cache_max / 4 + 1;
            let free = &mut self.free_entries;
            self.cache.retain(|_, &mut i| {
                if evict > 0 {
                    evict -= 1;
                    free.push(i);
                    false
                } else {
                    true
                }
            });
        }
        let i = match self.free_entries.pop() {
            Some(i) => {
                self.entries[i as usize] = out;
                i
            }
            None => {
                self.entries.push(out);
                (self.entries.len() - 1) as u32
            }
        };
        self.cache.insert(Bytes::copy_from_slice(subject), i);
        &self.entries[i as usize]
    }

    /// Life-time counters.
    pub(crate) fn counters(&self) -> IndexCounters {
        self.counters
    }

    /// Cached lookups and their fan-outs (receivers: plain subscriptions
    /// plus queue groups), for the sublist statistics.
    pub(crate) fn cached_fanouts(&self) -> impl Iterator<Item = usize> + '_ {
        self.cache
            .values()
            .map(|&i| &self.entries[i as usize])
            .map(|m| m.plain.len() + m.groups.len())
    }

    /// Number of cached lookups (for tests and stats).
    #[cfg(test)]
    pub(crate) fn cache_len(&self) -> usize {
        self.cache.len()
    }

    fn invalidate(&mut self, pattern: &[u8]) {
        let free = &mut self.free_entries;
        if subject::is_literal(pattern) {
            if let Some(i) = self.cache.remove(pattern) {
                free.push(i);
            }
        } else {
            self.cache.retain(|k, &mut i| {
                let keep = !subject::matches(pattern, k);
                if !keep {
                    free.push(i);
                }
                keep
            });
        }
    }
}

fn collect(level: &Level, tokens: &[&[u8]], out: &mut Matches) {
    let Some((first, rest)) = tokens.split_first() else {
        return;
    };
    if let Some(full) = &level.full {
        full.add_to(out);
    }
    if let Some(star) = &level.star {
        visit(star, rest, out);
    }
    if let Some(node) = level.literal.get(*first) {
        visit(node, rest, out);
    }
}

fn visit(node: &Node, rest: &[&[u8]], out: &mut Matches) {
    if rest.is_empty() {
        node.add_to(out);
    } else if let Some(next) = &node.next {
        collect(next, rest, out);
    }
}

fn remove_in(level: &mut Level, tokens: &[&[u8]], queue: Option<&Bytes>, key: SubKey) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return false;
    };
    let (found, prune) = {
        let node = match *first {
            b"*" => level.star.as_deref_mut(),
            b">" => level.full.as_deref_mut(),
            tok => level.literal.get_mut(tok),
        };
        let Some(node) = node else {
            return false;
        };
        let found = if rest.is_empty() {
            remove_from_node(node, queue, key)
        } else {
            match node.next.as_deref_mut() {
                Some(next) => {
                    let found = remove_in(next, rest, queue, key);
                    if next.is_empty() {
                        node.next = None;
                    }
                    found
                }
                None => false,
            }
        };
        (found, node.is_empty())
    };
    if prune {
        match *first {
            b"*" => level.star = None,
            b">" => level.full = None,
            tok => {
                level.literal.remove(tok);
            }
        }
    }
    found
}

fn remove_from_node(node: &mut Node, queue: Option<&Bytes>, key: SubKey) -> bool {
    let list = match queue {
        None => &mut node.plain,
        Some(q) => match node.groups.iter().position(|g| g.name == q) {
            Some(i) => {
                let members = &mut node.groups[i].members;
                let found = remove_key(members, key);
                if members.is_empty() {
                    node.groups.remove(i);
                }
                return found;
            }
            None => return false,
        },
    };
    remove_key(list, key)
}

fn remove_key(list: &mut Vec<SubKey>, key: SubKey) -> bool {
    match list.iter().position(|&k| k == key) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::SeededRng;

    fn q(name: &str) -> Bytes {
        Bytes::copy_from_slice(name.as_bytes())
    }

    fn sorted(mut v: Vec<SubKey>) -> Vec<SubKey> {
        v.sort_unstable();
        v
    }

    #[test]
    fn literal_star_and_full_wildcards() {
        let mut idx = SubjectIndex::default();
        idx.insert(b"foo.bar", None, 1);
        idx.insert(b"foo.*", None, 2);
        idx.insert(b"foo.>", None, 3);
        idx.insert(b">", None, 4);
        idx.insert(b"*.bar", None, 5);
        idx.insert(b"foo.bar.baz", None, 6);
        assert_eq!(
            sorted(idx.matches(b"foo.bar").plain.clone()),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            sorted(idx.matches(b"foo.bar.baz").plain.clone()),
            vec![3, 4, 6]
        );
        assert_eq!(sorted(idx.matches(b"foo").plain.clone()), vec![4]);
        assert_eq!(sorted(idx.matches(b"bar.bar").plain.clone()), vec![4, 5]);
        assert_eq!(idx.len(), 6);
    }

    #[test]
    fn queue_groups_merge_by_name_across_levels() {
        let mut idx = SubjectIndex::default();
        idx.insert(b"a.b", Some(&q("g")), 1);
        idx.insert(b"a.*", Some(&q("g")), 2);
        idx.insert(b"a.*", Some(&q("h")), 3);
        idx.insert(b"a.b", None, 4);
        let m = idx.matches(b"a.b");
        assert_eq!(m.plain, vec![4]);
        let mut groups: Vec<_> = m
            .groups
            .iter()
            .map(|g| (g.name.clone(), sorted(g.members.clone())))
            .collect();
        groups.sort();
        assert_eq!(groups, vec![(q("g"), vec![1, 2]), (q("h"), vec![3])]);
    }

    #[test]
    fn cache_is_invalidated_by_insert_and_remove() {
        let mut idx = SubjectIndex::default();
        idx.insert(b"x.y", None, 1);
        assert_eq!(idx.matches(b"x.y").plain, vec![1]);
        assert_eq!(idx.matches(b"x.z").plain, Vec::<SubKey>::new());
        assert_eq!(idx.cache_len(), 2);
        idx.insert(b"x.*", None, 2);
        assert_eq!(idx.cache_len(), 0, "both cached subjects match x.*");
        assert_eq!(sorted(idx.matches(b"x.y").plain.clone()), vec![1, 2]);
        assert_eq!(idx.matches(b"x.z").plain, vec![2]);
        assert!(idx.remove(b"x.y", None, 1));
        assert_eq!(idx.matches(b"x.y").plain, vec![2]);
        assert_eq!(
            idx.matches(b"x.z").plain,
            vec![2],
            "literal removal keeps other entries"
        );
        assert!(!idx.remove(b"x.y", None, 1));
        assert!(idx.remove(b"x.*", None, 2));
        assert!(idx.matches(b"x.z").is_empty());
        assert!(idx.root.is_empty(), "empty branches are pruned");
        assert_eq!(idx.len(), 0);
    }

    #[test]
    fn remove_needs_same_queue() {
        let mut idx = SubjectIndex::default();
        idx.insert(b"s", Some(&q("g")), 1);
        assert!(!idx.remove(b"s", None, 1));
        assert!(!idx.remove(b"s", Some(&q("h")), 1));
        assert!(idx.remove(b"s", Some(&q("g")), 1));
        assert!(idx.root.is_empty());
    }

    #[test]
    fn bounded_cache() {
        let mut idx = SubjectIndex::new(8, 0);
        idx.insert(b">", None, 1);
        for i in 0..100 {
            let s = format!("s.{i}");
            assert_eq!(idx.matches(s.as_bytes()).plain, vec![1]);
            assert!(idx.cache_len() <= 8);
        }
    }

    /// The index agrees with a brute-force scan over random subscriptions,
    /// through random inserts and removals (with the cache in play).
    #[test]
    fn agrees_with_brute_force() {
        let mut rng = SeededRng::new(42);
        let tokens = [&b"a"[..], b"b", b"c", b"*", b">"];
        let mut idx = SubjectIndex::new(16, 0);
        let mut live: Vec<(Vec<u8>, Option<Bytes>, SubKey)> = Vec::new();
        let mut next_key = 0;
        for round in 0..3000 {
            if live.is_empty() || rng.below(3) > 0 {
                let n = 1 + rng.below(3);
                let mut subj = Vec::new();
                for i in 0..n {
                    if i > 0 {
                        subj.push(b'.');
                    }
                    let mut t = tokens[rng.below(tokens.len())];
                    if t == b">" && i + 1 < n {
                        t = b"*";
                    }
                    subj.extend_from_slice(t);
                }
                let queue = (rng.below(3) == 0).then(|| q(["g", "h"][rng.below(2)]));
                idx.insert(&subj, queue.as_ref(), next_key);
                live.push((subj, queue, next_key));
                next_key += 1;
            } else {
                let (subj, queue, key) = live.swap_remove(rng.below(live.len()));
                assert!(idx.remove(&subj, queue.as_ref(), key));
            }
            let n = 1 + rng.below(3);
            let subject: Vec<u8> = (0..n)
                .map(|_| ["a", "b", "c"][rng.below(3)])
                .collect::<Vec<_>>()
                .join(".")
                .into_bytes();
            let got = idx.matches(&subject);
            let mut want_plain: Vec<SubKey> = live
                .iter()
                .filter(|(s, q, _)| q.is_none() && subject::matches(s, &subject))
                .map(|e| e.2)
                .collect();
            want_plain.sort_unstable();
            assert_eq!(sorted(got.plain.clone()), want_plain, "round {round}");
            for g in ["g", "h"] {
                let mut want: Vec<SubKey> = live
                    .iter()
                    .filter(|(s, q, _)| {
                        q.as_deref() == Some(g.as_bytes()) && subject::matches(s, &subject)
                    })
                    .map(|e| e.2)
                    .collect();
                want.sort_unstable();
                let have = got
                    .groups
                    .iter()
                    .find(|x| &x.name[..] == g.as_bytes())
                    .map(|x| sorted(x.members.clone()))
                    .unwrap_or_default();
                assert_eq!(have, want, "round {round} group {g}");
            }
            assert_eq!(idx.len(), live.len());
        }
    }
}
