//! The timer: a min-heap of due times and a `Notify`, nothing else.
//!
//! One task sleeps on the engine's clock until the earliest due time, or
//! until `arm` brings in an earlier one (only then is it woken). It never
//! does work inline: due keys go to dispatch through a bounded channel,
//! which dispatch drains at once into its own queues, so the timer is never
//! held up by delivery capacity. With nothing armed it sleeps until
//! notified; otherwise the clock wakes it at least every `clock::RECHECK` to
//! read the wall clock again (clock steps, suspend/resume).
//!
//! Each key has at most one due time. Every armed schedule is here, so the
//! layout is about bytes per key (a million schedules is a normal load):
//! - one `Entry` per key in a slab (`entries`, 48 bytes): its due time, its
//!   place in the heap and the key itself, a schedule id of up to `INLINE`
//!   bytes in place (no allocation of its own);
//! - the heap is a `Vec<u32>` of slab indices (4 bytes per key), ordered by
//!   (due time, key), and each entry knows its place in it, so re-arming
//!   moves the entry and disarming removes it: no stale entries, no second
//!   map of live due times;
//! - the index from key to slab slot is a `HashTable<u32>` (about 10 bytes
//!   per key) that hashes and compares through the slab.
//!
//! A start-up load (`Loader`) appends every entry and builds the heap in one
//! pass (Floyd's heapify) instead of a million sift-ups.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use hashbrown::{DefaultHashBuilder, HashTable};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::model::Millis;

/// Most keys popped per turn, so a burst streams through dispatch instead of
/// being copied out of the heap all at once.
const POP_BATCH: usize = 1024;

/// Longest schedule id kept in place in its entry; longer ones are boxed.
/// Generated ids (`scd_` + 24) fit.
const INLINE: usize = 30;

/// A destination's share of delivery capacity: `scheme://host:port`.
pub type Lane = Arc<str>;

/// A message in the timer: its id, the lane its attempt runs in and its
/// flow-control key, if any (§4.11). Identity is the id alone, so
/// disarming needs neither.
#[derive(Debug, Clone)]
pub struct MessageKey {
    pub id: Arc<str>,
    pub lane: Lane,
    pub flow: Option<Arc<str>>,
}

impl MessageKey {
    /// The key of message `id` for lookups (its lane does not matter).
    pub fn id(id: &str) -> MessageKey {
        static NO_LANE: LazyLock<Lane> = LazyLock::new(|| Arc::from(""));
        MessageKey {
            id: id.into(),
            lane: NO_LANE.clone(),
            flow: None,
        }
    }
}

impl PartialEq for MessageKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for MessageKey {}
impl Hash for MessageKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}
impl PartialOrd for MessageKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MessageKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

/// What the timer tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// Fire the schedule's next slot.
    Schedule(Arc<str>),
    /// Make the message's next delivery attempt.
    Message(MessageKey),
    /// Read the next stretch of pending messages into the timer.
    Window,
    /// A flow-control key's waiters may start (a rate period ended, a
    /// setting changed).
    Flow(Arc<str>),
}

/// A key's identity: its kind, in `TimerKey`'s variant order, and its id.
/// Equal identities are the same key; ties in due time are broken by it,
/// as `TimerKey`'s own order would.
type Ident<'a> = (u8, &'a [u8]);

impl TimerKey {
    fn ident(&self) -> Ident<'_> {
        match self {
            TimerKey::Schedule(id) => (0, id.as_bytes()),
            TimerKey::Message(k) => (1, k.id.as_bytes()),
            TimerKey::Window => (2, &[]),
            TimerKey::Flow(k) => (3, k.as_bytes()),
        }
    }
}

/// A key as its entry holds it.
enum Stored {
    /// A schedule id of at most `INLINE` bytes, in place.
    Short {
        len: u8,
        bytes: [u8; INLINE],
    },
    /// A longer schedule id.
    Long(Box<str>),
    Message(Box<MessageKey>),
    Window,
    Flow(Arc<str>),
    /// The slot is on the free list.
    Free,
}

impl Stored {
    fn schedule(id: &str) -> Stored {
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            Stored::Short {
                len: id.len() as u8,
                bytes,
            }
        } else {
            Stored::Long(id.into())
        }
    }

    fn from_key(key: TimerKey) -> Stored {
        match key {
            TimerKey::Schedule(id) => Stored::schedule(&id),
            TimerKey::Message(k) => Stored::Message(Box::new(k)),
            TimerKey::Window => Stored::Window,
            TimerKey::Flow(k) => Stored::Flow(k),
        }
    }

    fn ident(&self) -> Ident<'_> {
        match self {
            Stored::Short { len, bytes } => (0, &bytes[..*len as usize]),
            Stored::Long(id) => (0, id.as_bytes()),
            Stored::Message(k) => (1, k.id.as_bytes()),
            Stored::Window => (2, &[]),
            Stored::Flow(k) => (3, k.as_bytes()),
            Stored::Free => (u8::MAX, &[]),
        }
    }

    fn into_key(self) -> TimerKey {
        match self {
            Stored::Short { len, bytes } => TimerKey::Schedule(
                // The bytes were copied from a `str`, whole.
                String::from_utf8_lossy(&bytes[..len as usize]).into(),
            ),
            Stored::Long(id) => TimerKey::Schedule(id.into()),
            Stored::Message(k) => TimerKey::Message(*k),
            Stored::Window => TimerKey::Window,
            Stored::Flow(k) => TimerKey::Flow(k),
            Stored::Free => unreachable!("a free slot is never in the heap"),
        }
    }
}

/// One armed key.
struct Entry {
    due: Millis,
    /// Where this entry's index is in `State::heap` (meaningless while free).
    pos: u32,
    key: Stored,
}

const _: () = assert!(std::mem::size_of::<Entry>() <= 48);

/// Keys read at start-up, to be added in one go (`Timer::load`).
#[derive(Default)]
pub struct Loader {
    entries: Vec<Entry>,
}

impl Loader {
    pub fn with_capacity(n: usize) -> Loader {
        Loader {
            entries: Vec::with_capacity(n),
        }
    }

    /// Schedule `id` is to be armed at `at`.
    pub fn schedule(&mut self, id: &str, at: Millis) {
        self.entries.push(Entry {
            due: at,
            pos: 0,
            key: Stored::schedule(id),
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    /// Slots of `entries` not in use.
    free: Vec<u32>,
    /// Indices into `entries`: a binary min-heap by (due, ident).
    heap: Vec<u32>,
    /// Indices into `entries`, by key.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

fn hash_of(hasher: &DefaultHashBuilder, (kind, id): Ident) -> u64 {
    let mut h = hasher.build_hasher();
    h.write_u8(kind);
    h.write(id);
    h.finish()
}

impl State {
    fn hash(&self, ident: Ident) -> u64 {
        hash_of(&self.hasher, ident)
    }

    /// The slot of the key with `ident` (hashed `h`), if armed.
    fn find(&self, h: u64, ident: Ident) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(h, |&i| entries[i as usize].key.ident() == ident)
            .copied()
    }

    fn due_of(&self, slot: u32) -> Millis {
        self.entries[slot as usize].due
    }

    fn earliest(&self) -> Option<Millis> {
        self.heap.first().map(|&i| self.due_of(i))
    }

    /// Whether slot `a` comes out before slot `b`.
    fn before(&self, a: u32, b: u32) -> bool {
        let (ea, eb) = (&self.entries[a as usize], &self.entries[b as usize]);
        match ea.due.cmp(&eb.due) {
            Ordering::Equal => ea.key.ident() < eb.key.ident(),
            o => o == Ordering::Less,
        }
    }

    fn place(&mut self, pos: usize, slot: u32) {
        self.heap[pos] = slot;
        self.entries[slot as usize].pos = pos as u32;
    }

    fn sift_up(&mut self, mut pos: usize) {
        let slot = self.heap[pos];
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let p = self.heap[parent];
            if !self.before(slot, p) {
                break;
            }
            self.place(pos, p);
            pos = parent;
        }
        self.place(pos, slot);
    }

    fn sift_down(&mut self, mut pos: usize) {
        let slot = self.heap[pos];
        let n = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.before(self.heap[right], self.heap[left]) {
                right
            } else {
                left
            };
            if !self.before(self.heap[child], slot) {
                break;
            }
            self.place(pos, self.heap[child]);
            pos = child;
        }
        self.place(pos, slot);
    }

    /// Restores the heap after the entry at `pos` changed its due time.
    fn fix(&mut self, pos: usize) {
        if pos > 0 && self.before(self.heap[pos], self.heap[(pos - 1) / 2]) {
            self.sift_up(pos);
        } else {
            self.sift_down(pos);
        }
    }

    /// Arms the key `key` (whose identity hashes to `h`, found at `found`)
    /// at `at`. The new key replaces the stored one: for a message, its lane
    /// and flow-control key are the latest arming's.
    fn put(&mut self, h: u64, found: Option<u32>, key: Stored, at: Millis) {
        match found {
            Some(slot) => {
                let e = &mut self.entries[slot as usize];
                e.due = at;
                e.key = key;
                let pos = e.pos as usize;
                self.fix(pos);
            }
            None => {
                let pos = self.heap.len();
                let entry = Entry {
                    due: at,
                    pos: pos as u32,
                    key,
                };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.entries[slot as usize] = entry;
                        slot
                    }
                    None => {
                        self.entries.push(entry);
                        (self.entries.len() - 1) as u32
                    }
                };
                let State {
                    entries,
                    index,
                    hasher,
                    ..
                } = self;
                index.insert_unique(h, slot, |&i| {
                    hash_of(hasher, entries[i as usize].key.ident())
                });
                self.heap.push(slot);
                self.sift_up(pos);
            }
        }
    }

    /// Takes the entry at heap position `pos` out of the timer.
    fn remove_at(&mut self, pos: usize) -> (Stored, Millis) {
        let slot = self.heap[pos];
        let last = self.heap.pop().expect("pos is in the heap");
        if pos < self.heap.len() {
            self.place(pos, last);
            self.fix(pos);
        }
        let h = self.hash(self.entries[slot as usize].key.ident());
        if let Ok(found) = self.index.find_entry(h, |&i| i == slot) {
            found.remove();
        }
        let e = &mut self.entries[slot as usize];
        let key = std::mem::replace(&mut e.key, Stored::Free);
        let due = e.due;
        self.free.push(slot);
        (key, due)
    }

    /// Gives memory back once most slots are free: live entries move to
    /// the front in heap order (so the heap stays valid) and the index is
    /// rebuilt.
    fn compact(&mut self) {
        if self.free.len() <= self.heap.len() + 1024 {
            return;
        }
        let mut old = std::mem::take(&mut self.entries);
        let mut entries = Vec::with_capacity(self.heap.len());
        for (pos, slot) in self.heap.iter_mut().enumerate() {
            let e = &mut old[*slot as usize];
            entries.push(Entry {
                due: e.due,
                pos: pos as u32,
                key: std::mem::replace(&mut e.key, Stored::Free),
            });
            *slot = pos as u32;
        }
        self.entries = entries;
        self.free = Vec::new();
        self.heap.shrink_to_fit();
        self.rebuild_index();
    }

    fn rebuild_index(&mut self) {
        let State {
            entries,
            index,
            hasher,
            heap,
            ..
        } = self;
        *index = HashTable::with_capacity(heap.len());
        for &slot in heap.iter() {
            let h = hash_of(hasher, entries[slot as usize].key.ident());
            index.insert_unique(h, slot, |&i| {
                hash_of(hasher, entries[i as usize].key.ident())
            });
        }
    }

    /// Adds `loaded` (a later arming of a key replaces an earlier one) and
    /// restores the heap in one pass.
    fn load(&mut self, loaded: Vec<Entry>) {
        let base = self.entries.len();
        if self.entries.is_empty() && self.free.is_empty() {
            self.entries = loaded;
        } else {
            self.entries.extend(loaded);
        }
        let added = self.entries.len() - base;
        {
            let State {
                entries,
                index,
                hasher,
                ..
            } = self;
            index.reserve(added, |&i| hash_of(hasher, entries[i as usize].key.ident()));
        }
        self.heap.reserve(added);
        for slot in base..self.entries.len() {
            let State {
                entries,
                index,
                hasher,
                heap,
                free,
            } = self;
            let ident = entries[slot].key.ident();
            let h = hash_of(hasher, ident);
            // One probe per key: found (a second arming) or the free place.
            let found = index.entry(
                h,
                |&i| entries[i as usize].key.ident() == ident,
                |&i| hash_of(hasher, entries[i as usize].key.ident()),
            );
            match found {
                hashbrown::hash_table::Entry::Occupied(earlier) => {
                    let earlier = *earlier.get() as usize;
                    let key = std::mem::replace(&mut entries[slot].key, Stored::Free);
                    let due = entries[slot].due;
                    entries[earlier].key = key;
                    entries[earlier].due = due;
                    free.push(slot as u32);
                }
                hashbrown::hash_table::Entry::Vacant(place) => {
                    place.insert(slot as u32);
                    entries[slot].pos = heap.len() as u32;
                    heap.push(slot as u32);
                }
            }
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

/// Handle to the timer; cheap to clone.
#[derive(Clone, Default)]
pub struct Timer {
    shared: Arc<Shared>,
}

impl Timer {
    pub fn new() -> Timer {
        Timer::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // No code panics while holding the lock; recover anyway rather than cascade.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms `key` at `at`, replacing any earlier arming of it.
    pub fn arm(&self, key: TimerKey, at: Millis) {
        self.arm_if(key, at, |_| true);
    }

    /// Arms schedule `id` at `at` (as `arm` does, without building its key).
    pub fn arm_schedule(&self, id: &str, at: Millis) {
        let wake = {
            let mut st = self.state();
            let ident = (0, id.as_bytes());
            let h = st.hash(ident);
            let found = st.find(h, ident);
            let earliest = st.earliest();
            st.put(h, found, Stored::schedule(id), at);
            earliest.is_none_or(|t| at < t)
        };
        if wake {
            self.shared.notify.notify_one();
        }
    }

    /// Arms `key` at `at` unless it is armed earlier already.
    pub fn arm_no_later(&self, key: TimerKey, at: Millis) {
        self.arm_if(key, at, |armed| armed.is_none_or(|t| t > at));
    }

    /// Arms `key` at `at` if `replace` says so of its current arming; wakes
    /// the timer when `at` is its new earliest time.
    fn arm_if(&self, key: TimerKey, at: Millis, replace: impl FnOnce(Option<Millis>) -> bool) {
        let wake = {
            let mut st = self.state();
            let ident = key.ident();
            let h = st.hash(ident);
            let found = st.find(h, ident);
            if !replace(found.map(|slot| st.due_of(slot))) {
                return;
            }
            let earliest = st.earliest();
            st.put(h, found, Stored::from_key(key), at);
            earliest.is_none_or(|t| at < t)
        };
        if wake {
            self.shared.notify.notify_one();
        }
    }

    /// Adds what `loader` holds, as if each were armed in turn, in one go.
    pub fn load(&self, loader: Loader) {
        if loader.is_empty() {
            return;
        }
        let wake = {
            let mut st = self.state();
            let earliest = st.earliest();
            st.load(loader.entries);
            earliest != st.earliest()
        };
        if wake {
            self.shared.notify.notify_one();
        }
    }

    /// Forgets `key`.
    pub fn disarm(&self, key: &TimerKey) {
        let mut st = self.state();
        let ident = key.ident();
        let h = st.hash(ident);
        if let Some(slot) = st.find(h, ident) {
            let pos = st.entries[slot as usize].pos as usize;
            st.remove_at(pos);
        }
    }

    /// Number of armed keys.
    pub fn len(&self) -> usize {
        self.state().heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When `key` is armed, if it is.
    pub fn armed_at(&self, key: &TimerKey) -> Option<Millis> {
        let st = self.state();
        let ident = key.ident();
        st.find(st.hash(ident), ident).map(|slot| st.due_of(slot))
    }

    /// Pops up to `POP_BATCH` keys due at `now`; returns them and the next due time.
    fn pop_due(&self, now: Millis) -> (Vec<(TimerKey, Millis)>, Option<Millis>) {
        let mut st = self.state();
        let mut due = Vec::new();
        while due.len() < POP_BATCH {
            match st.earliest() {
                Some(at) if at <= now => {}
                _ => break,
            }
            let (key, at) = st.remove_at(0);
            due.push((key.into_key(), at));
        }
        st.compact();
        (due, st.earliest())
    }

    /// Runs until `stop` is cancelled or dispatch goes away.
    pub async fn run(
        self,
        clock: Arc<dyn Clock>,
        out: mpsc::Sender<(TimerKey, Millis)>,
        stop: CancellationToken,
    ) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let (due, next) = self.pop_due(clock.now_ms());
            let popped_full_batch = due.len() == POP_BATCH;
            for item in due {
                tokio::select! {
                    sent = out.send(item) => if sent.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            if popped_full_batch {
                continue;
            }
            tokio::select! {
                _ = self.shared.notify.notified() => {}
                _ = stop.cancelled() => return,
                _ = async {
                    match next {
                        Some(at) => clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn key(s: &str) -> TimerKey {
        TimerKey::Schedule(s.into())
    }

    fn start(
        timer: &Timer,
    ) -> (
        mpsc::Receiver<(TimerKey, Millis)>,
        CancellationToken,
        Arc<ManualClock>,
    ) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        tokio::spawn(timer.clone().run(clock.clone(), tx, stop.clone()));
        (rx, stop, clock)
    }

    /// Nothing comes out of `rx` for a while (real time, bounded).
    async fn quiet(rx: &mut mpsc::Receiver<(TimerKey, Millis)>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), rx.recv())
            .await
            .is_err()
    }

    async fn next(rx: &mut mpsc::Receiver<(TimerKey, Millis)>) -> (TimerKey, Millis) {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a key came out")
            .unwrap()
    }

    #[tokio::test]
    async fn keys_come_out_in_due_order_only_when_the_clock_reaches_them() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("b"), t0 + 2000);
        timer.arm(key("a"), t0 + 1000);
        timer.arm(key("c"), t0 + 3000);
        for name in ["a", "b", "c"] {
            assert!(quiet(&mut rx).await, "{name} came out before its time");
            clock.advance(Duration::from_millis(1000));
            let (k, at) = next(&mut rx).await;
            assert_eq!(k, key(name));
            assert_eq!(at, clock.now_ms());
        }
    }

    #[tokio::test]
    async fn rearming_replaces_and_disarming_removes() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("x"), t0 + 1000);
        timer.arm(key("x"), t0 + 5000);
        timer.arm(key("gone"), t0 + 2000);
        timer.disarm(&key("gone"));
        clock.advance(Duration::from_secs(10));
        let (k, at) = next(&mut rx).await;
        assert_eq!((k, at), (key("x"), t0 + 5000));
        assert!(quiet(&mut rx).await);
        assert!(timer.is_empty());
    }

    #[tokio::test]
    async fn an_earlier_arming_wakes_a_long_sleep() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("late"), t0 + 3_600_000);
        tokio::task::yield_now().await;
        timer.arm(key("now"), t0);
        assert_eq!(next(&mut rx).await.0, key("now"));
    }

    #[test]
    fn arming_no_later_keeps_an_earlier_time() {
        let timer = Timer::new();
        timer.arm_no_later(TimerKey::Window, 50);
        timer.arm_no_later(TimerKey::Window, 90);
        assert_eq!(timer.armed_at(&TimerKey::Window), Some(50));
        timer.arm_no_later(TimerKey::Window, 10);
        assert_eq!(timer.armed_at(&TimerKey::Window), Some(10));
    }

    #[tokio::test]
    async fn a_message_key_is_found_by_its_id_alone() {
        let timer = Timer::new();
        let k = TimerKey::Message(MessageKey {
            id: "m".into(),
            lane: "http://a:1".into(),
            flow: None,
        });
        timer.arm(k, 5);
        assert_eq!(
            timer.armed_at(&TimerKey::Message(MessageKey::id("m"))),
            Some(5)
        );
        timer.disarm(&TimerKey::Message(MessageKey::id("m")));
        assert!(timer.is_empty());
    }

    #[tokio::test]
    async fn a_full_dispatch_channel_delays_but_loses_nothing() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        for i in 0..3000 {
            timer.arm(key(&format!("k{i}")), clock.now_ms());
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < 3000 {
            let (k, _) = next(&mut rx).await;
            assert!(seen.insert(k), "a key came out twice");
        }
    }

    #[test]
    fn rearming_moves_the_one_entry_of_a_key() {
        let timer = Timer::new();
        for i in 0..5000 {
            timer.arm(key("same"), 10_000 - i);
        }
        assert_eq!(timer.len(), 1);
        assert_eq!(timer.state().entries.len(), 1);
        assert_eq!(timer.pop_due(5000), (Vec::new(), Some(5001)));
        assert_eq!(timer.pop_due(5001).0, [(key("same"), 5001)]);
    }

    #[test]
    fn memory_of_disarmed_keys_is_given_back() {
        let timer = Timer::new();
        for i in 0..5000 {
            timer.arm(key(&format!("k{i}")), i);
        }
        for i in 0..4990 {
            timer.disarm(&key(&format!("k{i}")));
        }
        let (due, next) = timer.pop_due(0);
        assert!(due.is_empty());
        assert_eq!(next, Some(4990));
        assert_eq!(timer.state().entries.len(), 10, "the slab was compacted");
        let (due, _) = timer.pop_due(10_000);
        let names: Vec<_> = due.into_iter().map(|(k, _)| k).collect();
        let want: Vec<_> = (4990..5000).map(|i| key(&format!("k{i}"))).collect();
        assert_eq!(names, want, "the heap survived the compaction");
    }

    #[test]
    fn long_ids_and_every_kind_of_key_round_trip() {
        let timer = Timer::new();
        let long = "s".repeat(INLINE + 1);
        let exact = "e".repeat(INLINE);
        let msg = TimerKey::Message(MessageKey {
            id: "m".into(),
            lane: "http://a:1".into(),
            flow: Some("f".into()),
        });
        let keys = [
            key(&long),
            key(&exact),
            key(""),
            key("ünïcode"),
            msg.clone(),
            TimerKey::Window,
            TimerKey::Flow("f".into()),
        ];
        for (i, k) in keys.iter().enumerate() {
            timer.arm(k.clone(), i as Millis);
        }
        let (due, _) = timer.pop_due(100);
        let out: Vec<_> = due.into_iter().map(|(k, _)| k).collect();
        assert_eq!(out, keys);
        assert!(timer.is_empty());
    }

    #[test]
    fn a_load_builds_the_heap_and_a_later_arming_wins() {
        let timer = Timer::new();
        timer.arm(key("armed before"), 50);
        timer.arm(key("b"), 1);
        let mut loader = Loader::with_capacity(4);
        loader.schedule("c", 30);
        loader.schedule("b", 20);
        loader.schedule("a", 10);
        loader.schedule("c", 5);
        timer.load(loader);
        assert_eq!(timer.len(), 4);
        let (due, _) = timer.pop_due(1000);
        assert_eq!(
            due,
            [
                (key("c"), 5),
                (key("a"), 10),
                (key("b"), 20),
                (key("armed before"), 50)
            ]
        );
    }

    mod model {
        //! The timer against a plain `BinaryHeap` with lazy deletion (a
        //! generation per key): the same keys come out, in the same order,
        //! with the same due times and the latest arming's key.
        use super::super::*;
        use proptest::prelude::*;
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashMap};

        #[derive(Default)]
        struct Reference {
            heap: BinaryHeap<Reverse<(Millis, TimerKey, u64)>>,
            live: HashMap<TimerKey, (u64, Millis, TimerKey)>,
            generation: u64,
        }

        impl Reference {
            fn arm(&mut self, key: TimerKey, at: Millis) {
                self.generation += 1;
                self.live
                    .insert(key.clone(), (self.generation, at, key.clone()));
                self.heap.push(Reverse((at, key, self.generation)));
            }
            fn arm_no_later(&mut self, key: TimerKey, at: Millis) {
                if self.live.get(&key).is_none_or(|(_, t, _)| *t > at) {
                    self.arm(key, at);
                }
            }
            fn disarm(&mut self, key: &TimerKey) {
                self.live.remove(key);
            }
            fn pop_due(&mut self, now: Millis) -> Vec<(TimerKey, Millis)> {
                let mut out = Vec::new();
                while let Some(Reverse((at, _, _))) = self.heap.peek() {
                    if *at > now {
                        break;
                    }
                    let Reverse((at, key, generation)) = self.heap.pop().unwrap();
                    if self
                        .live
                        .get(&key)
                        .is_some_and(|(g, _, _)| *g == generation)
                    {
                        let (_, _, latest) = self.live.remove(&key).unwrap();
                        out.push((latest, at));
                    }
                }
                out
            }
        }

        #[derive(Debug, Clone)]
        enum Op {
            Arm(TimerKey, Millis),
            ArmNoLater(TimerKey, Millis),
            ArmSchedule(String, Millis),
            Disarm(TimerKey),
            Load(Vec<(String, Millis)>),
            Pop(Millis),
        }

        fn schedule_id() -> impl Strategy<Value = String> {
            prop_oneof![
                (0..12u8).prop_map(|i| format!("s{i}")),
                (0..3u8).prop_map(|i| format!("{i}{}", "long".repeat(10))),
            ]
        }

        fn timer_key() -> impl Strategy<Value = TimerKey> {
            prop_oneof![
                schedule_id().prop_map(|id| TimerKey::Schedule(id.into())),
                (0..8u8, 0..3u8, proptest::option::of(0..2u8)).prop_map(|(id, lane, flow)| {
                    TimerKey::Message(MessageKey {
                        id: format!("m{id}").into(),
                        lane: format!("http://h{lane}:1").into(),
                        flow: flow.map(|f| format!("f{f}").into()),
                    })
                }),
                Just(TimerKey::Window),
                (0..3u8).prop_map(|f| TimerKey::Flow(format!("f{f}").into())),
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            let at = 0..60 as Millis;
            prop_oneof![
                4 => (timer_key(), at.clone()).prop_map(|(k, t)| Op::Arm(k, t)),
                1 => (timer_key(), at.clone()).prop_map(|(k, t)| Op::ArmNoLater(k, t)),
                2 => (schedule_id(), at.clone()).prop_map(|(k, t)| Op::ArmSchedule(k, t)),
                2 => timer_key().prop_map(Op::Disarm),
                1 => proptest::collection::vec((schedule_id(), at.clone()), 0..20).prop_map(Op::Load),
                2 => at.prop_map(Op::Pop),
            ]
        }

        /// Keys equal by identity may differ in lane and flow key: compare those too.
        fn full(k: &TimerKey) -> String {
            format!("{k:?}")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn pops_what_a_binary_heap_would(ops in proptest::collection::vec(op(), 1..120)) {
                let timer = Timer::new();
                let mut reference = Reference::default();
                let mut seen: Vec<TimerKey> = Vec::new();
                for op in ops {
                    match op {
                        Op::Arm(k, t) => { seen.push(k.clone()); timer.arm(k.clone(), t); reference.arm(k, t) }
                        Op::ArmNoLater(k, t) => { seen.push(k.clone()); timer.arm_no_later(k.clone(), t); reference.arm_no_later(k, t) }
                        Op::ArmSchedule(id, t) => {
                            let k = TimerKey::Schedule(id.as_str().into());
                            seen.push(k.clone());
                            timer.arm_schedule(&id, t);
                            reference.arm(k, t)
                        }
                        Op::Disarm(k) => { timer.disarm(&k); reference.disarm(&k) }
                        Op::Load(all) => {
                            let mut loader = Loader::default();
                            for (id, t) in all {
                                loader.schedule(&id, t);
                                let k = TimerKey::Schedule(id.as_str().into());
                                seen.push(k.clone());
                                reference.arm(k, t);
                            }
                            timer.load(loader);
                        }
                        Op::Pop(now) => {
                            let (got, next) = timer.pop_due(now);
                            let want = reference.pop_due(now);
                            let show = |v: &[(TimerKey, Millis)]| v.iter().map(|(k, t)| (full(k), *t)).collect::<Vec<_>>();
                            prop_assert_eq!(show(&got), show(&want));
                            let want_next = reference.live.values().map(|(_, t, _)| *t).min();
                            prop_assert_eq!(next, want_next);
                        }
                    }
                    prop_assert_eq!(timer.len(), reference.live.len());
                    for k in &seen {
                        prop_assert_eq!(timer.armed_at(k), reference.live.get(k).map(|(_, t, _)| *t));
                    }
                }
                let (rest, _) = timer.pop_due(Millis::MAX);
                let want = reference.pop_due(Millis::MAX);
                prop_assert_eq!(rest.len(), want.len());
            }
        }
    }
}
