//! The one seam between `std::sync` and loom (the convention tokio uses): every lock and
//! condition variable in the crate comes from here. Normally these are std's primitives;
//! under `RUSTFLAGS="--cfg loom"` they are loom's, so that loom can run the driver under
//! every interleaving of its threads. Both sides are adapted to one small API: `lock` and
//! `wait` hand back the guard even after a panic in another thread (no poisoning), because
//! the driver's state stays consistent across a panic (each step is applied whole or not at
//! all) and the invariants report what matters.

#[cfg(loom)]
use loom::sync as imp;
#[cfg(not(loom))]
use std::sync as imp;

pub(crate) use imp::Arc;
pub(crate) use imp::MutexGuard;

/// A mutex whose `lock` ignores poisoning.
#[derive(Debug)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A condition variable whose `wait` ignores poisoning.
#[derive(Debug)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}
