//! One value per thread for each owner, all of them reachable from the owner: how the hot request
//! path keeps tallies (the gateway's request log, both services' HTTP metrics) without worker
//! threads contending. A thread locks only its own value; the owner reads all values now and then.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Entry = (u64, Arc<dyn Any + Send + Sync>);

thread_local! {
    /// This thread's value of each `PerThread` it has used, by owner id.
    static VALUES: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Hands each thread its own `T` (made on first use) and keeps every one for [`PerThread::all`].
/// Values outlive their threads, so nothing counted is lost when a worker exits.
#[derive(Debug)]
pub struct PerThread<T> {
    /// Tells this owner's values from another's (tests run several apps in one process).
    id: u64,
    all: Mutex<Vec<Arc<T>>>,
}

impl<T: Default + Send + Sync + 'static> Default for PerThread<T> {
    fn default() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            all: Mutex::default(),
        }
    }
}

impl<T: Default + Send + Sync + 'static> PerThread<T> {
    /// The calling thread's value.
    pub fn get(&self) -> Arc<T> {
        VALUES.with_borrow_mut(|values| {
            if let Some((_, value)) = values.iter().find(|(id, _)| *id == self.id)
                && let Ok(value) = Arc::clone(value).downcast::<T>()
            {
                return value;
            }
            let value = Arc::new(T::default());
            self.all
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&value));
            values.push((self.id, Arc::clone(&value) as Arc<dyn Any + Send + Sync>));
            value
        })
    }

    /// Every thread's value so far.
    pub fn all(&self) -> Vec<Arc<T>> {
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn each_thread_gets_its_own_value_and_the_owner_sees_them_all() {
        let counts = PerThread::<AtomicUsize>::default();
        std::thread::scope(|s| {
            for n in 1..=3 {
                let counts = &counts;
                s.spawn(move || {
                    for _ in 0..n {
                        counts.get().fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let mut seen: Vec<usize> = counts
            .all()
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn two_owners_on_one_thread_stay_apart() {
        let (a, b) = (
            PerThread::<AtomicUsize>::default(),
            PerThread::<AtomicUsize>::default(),
        );
        a.get().fetch_add(5, Ordering::Relaxed);
        b.get().fetch_add(7, Ordering::Relaxed);
        a.get().fetch_add(1, Ordering::Relaxed);
        assert_eq!(a.all().len(), 1);
        assert_eq!(a.get().load(Ordering::Relaxed), 6);
        assert_eq!(b.get().load(Ordering::Relaxed), 7);
    }
}
