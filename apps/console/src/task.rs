//! Background requests: each runs on its own thread and hands its result back to the UI
//! thread, which polls it once per frame. The UI never blocks on the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use crate::client::{AdminClient, ClientError};

/// Requests in flight across the console (for the spinner and for tests).
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// Whether any request is in flight.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

/// One request slot: at most one request of this kind in flight.
pub struct Task<T> {
    rx: Option<Receiver<Result<T, ClientError>>>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Self { rx: None }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Runs `f` on a thread (replacing any result not yet taken).
    pub fn start(
        &mut self,
        ui: &Shared,
        f: impl FnOnce(&AdminClient) -> Result<T, ClientError> + Send + 'static,
    ) {
        let (tx, rx) = channel();
        self.rx = Some(rx);
        let (client, ctx, busy) = (ui.client.clone(), ui.ctx.clone(), ui.busy.0.clone());
        busy.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let _ = tx.send(f(&client));
            busy.fetch_sub(1, Ordering::SeqCst);
            ctx.request_repaint();
        });
    }

    /// Whether a request is in flight or its result not yet taken.
    pub fn running(&self) -> bool {
        self.rx.is_some()
    }

    /// The result, once there.
    pub fn poll(&mut self) -> Option<Result<T, ClientError>> {
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

    /// The value of a successful result; a failure goes to `ui`'s error line.
    pub fn take(&mut self, ui: &mut Shared) -> Option<T> {
        match self.poll()? {
            Ok(v) => Some(v),
            Err(e) => {
                ui.fail(e);
                None
            }
        }
    }
}

/// What every screen shares: the session, the error line and the shape names.
pub struct Shared {
    /// The signed-in session.
    pub client: AdminClient,
    /// For repaints from background threads.
    pub ctx: egui::Context,
    /// Requests in flight.
    pub busy: Busy,
    /// The error line (the latest failure).
    pub error: Option<String>,
    /// The latest confirmation, e.g. "Flagged 12 drawings".
    pub notice: Option<String>,
    /// Set when the server said the session is gone: the console returns to sign-in.
    pub expired: bool,
    /// Shapes and distractor words the server knows (from the stats), for pickers.
    pub shapes: Vec<String>,
    /// The shapes players are prompted for (trainable classes).
    pub prompt_shapes: Vec<String>,
    /// Bumped after curation so the dashboard and lists reload.
    pub generation: u64,
}

impl Shared {
    /// Records a failure for the error line.
    pub fn fail(&mut self, e: ClientError) {
        if e.is_unauthorized() {
            self.expired = true;
        }
        tracing::warn!(error = %e, "request failed");
        self.error = Some(e.to_string());
    }
}
