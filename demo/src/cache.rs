//! The per-request cache: the seed's bug, and its fix.
//!
//! Every request carries a unique id, and the handler keeps some state per
//! id "in case it is needed again". It never is: ids do not repeat. With an
//! unbounded map that state is never dropped, so the heap grows by about
//! [`ENTRY_BYTES`] per request for as long as the service runs. The fixed
//! service does the same work on an LRU with a fixed capacity, so the heap
//! warms up and then stays flat.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// How many bytes of state one request leaves behind (the payload; the map's
/// own slot and the key add a few dozen more).
pub const ENTRY_BYTES: usize = 1024;

/// The state kept for one request.
#[derive(Debug)]
pub struct Entry {
    /// Derived from the request id, so the pages are really written (and
    /// count in RSS) rather than left as untouched zero pages.
    payload: Vec<u8>,
}

impl Entry {
    /// A small digest of the payload, so the handler has something to return
    /// that depends on the cached state.
    pub fn checksum(&self) -> u32 {
        self.payload
            .iter()
            .fold(0u32, |acc, b| acc.rotate_left(5) ^ u32::from(*b))
    }
}

enum Store {
    /// The bug: nothing ever removes an entry.
    Unbounded(HashMap<String, Entry>),
    /// The fix: the least recently used entry goes when the cache is full.
    Bounded(LruCache<String, Entry>),
}

/// Per-request state keyed by request id.
pub struct RequestCache {
    store: Mutex<Store>,
}

impl RequestCache {
    /// The leaky cache, as the seed's service had it.
    pub fn unbounded() -> RequestCache {
        RequestCache {
            store: Mutex::new(Store::Unbounded(HashMap::new())),
        }
    }

    /// The fixed cache: at most `capacity` entries.
    pub fn bounded(capacity: NonZeroUsize) -> RequestCache {
        RequestCache {
            store: Mutex::new(Store::Bounded(LruCache::new(capacity))),
        }
    }

    /// The entry for `request_id`, created on first use.
    pub fn get_or_insert(&self, request_id: &str) -> u32 {
        // A poisoned lock only means another request panicked mid-insert; the
        // map itself is still consistent, so keep serving.
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *store {
            Store::Unbounded(map) => map
                .entry(request_id.to_owned())
                .or_insert_with(|| new_entry(request_id))
                .checksum(),
            Store::Bounded(lru) => lru
                .get_or_insert(request_id.to_owned(), || new_entry(request_id))
                .checksum(),
        }
    }

    /// How many entries the cache holds now.
    pub fn len(&self) -> usize {
        match &*self.store.lock().unwrap_or_else(|e| e.into_inner()) {
            Store::Unbounded(map) => map.len(),
            Store::Bounded(lru) => lru.len(),
        }
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds the state for one request: the allocation the heap profile blames.
// Never inlined, so the profile names this function in every build profile,
// which the demo's story (and its tests) rely on.
#[inline(never)]
pub fn new_entry(request_id: &str) -> Entry {
    let seed = request_id.bytes().fold(7u8, |a, b| a.wrapping_mul(31) ^ b);
    let mut payload = Vec::with_capacity(ENTRY_BYTES);
    payload.extend((0..ENTRY_BYTES).map(|i| seed ^ (i as u8)));
    Entry { payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_keeps_every_request() {
        let cache = RequestCache::unbounded();
        for i in 0..100 {
            cache.get_or_insert(&format!("req-{i}"));
        }
        cache.get_or_insert("req-5");
        assert_eq!(cache.len(), 100);
    }

    #[test]
    fn bounded_stops_at_capacity() {
        let cache = RequestCache::bounded(NonZeroUsize::new(10).unwrap());
        for i in 0..100 {
            cache.get_or_insert(&format!("req-{i}"));
        }
        assert_eq!(cache.len(), 10);
    }

    #[test]
    fn same_id_same_state() {
        let cache = RequestCache::unbounded();
        assert_eq!(cache.get_or_insert("a"), cache.get_or_insert("a"));
        assert_eq!(new_entry("a").payload.len(), ENTRY_BYTES);
    }
}
