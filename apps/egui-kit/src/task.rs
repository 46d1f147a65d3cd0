//! A background computation: it runs on a thread of its own and hands its result to the UI
//! thread, which polls once per frame; the UI never blocks. A repaint is requested when
//! the result arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// How many tasks are in flight (for a spinner, and for tests waiting for quiet).
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// Whether any task is in flight.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

/// One slot: at most one computation of this kind in flight; a new one replaces the result
/// of the last that was not taken.
#[derive(Debug)]
pub struct Task<T> {
    rx: Option<Receiver<T>>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Self { rx: None }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Runs `f` on a new thread, counted in `busy`; repaints `ctx` when it is done.
    pub fn spawn(
        &mut self,
        ctx: &egui::Context,
        busy: &Busy,
        f: impl FnOnce() -> T + Send + 'static,
    ) {
        let (tx, rx) = channel();
        self.rx = Some(rx);
        let (ctx, busy) = (ctx.clone(), busy.0.clone());
        busy.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let _ = tx.send(f());
            busy.fetch_sub(1, Ordering::SeqCst);
            ctx.request_repaint();
        });
    }

    /// Whether a computation is in flight or its result not yet taken.
    pub fn running(&self) -> bool {
        self.rx.is_some()
    }

    /// The result, once there (then the slot is free again).
    pub fn poll(&mut self) -> Option<T> {
        let rx = self.rx.as_ref()?;
        match rx.try_recv() {
            Ok(r) => {
                self.rx = None;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.rx = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_arrives_once_and_frees_the_slot() {
        let ctx = egui::Context::default();
        let busy = Busy::default();
        let mut task = Task::default();
        task.spawn(&ctx, &busy, || 6 * 7);
        assert!(task.running());
        let start = std::time::Instant::now();
        let got = loop {
            if let Some(v) = task.poll() {
                break v;
            }
            assert!(start.elapsed().as_secs() < 10, "no result");
            std::thread::yield_now();
        };
        assert_eq!(got, 42);
        assert!(!task.running());
        assert_eq!(task.poll(), None);
        while busy.any() {
            std::thread::yield_now();
        }
    }
}
