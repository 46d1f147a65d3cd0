//! Background requests: each runs on its own thread and hands its result back to the UI
//! thread, which polls it once per frame. The UI never blocks on the network.

use inkset_client::ClientError;
use inkset_client::blocking::BlockingClient;
pub use inkset_egui_kit::task::Busy;

/// One request slot: at most one request of this kind in flight (the kit's
/// [`inkset_egui_kit::task::Task`] with the signed-in client).
pub struct Task<T> {
    inner: inkset_egui_kit::task::Task<Result<T, ClientError>>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Self {
            inner: inkset_egui_kit::task::Task::default(),
        }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Runs `f` with the session's client on a thread (replacing any result not yet taken).
    pub fn start(
        &mut self,
        ui: &Shared,
        f: impl FnOnce(&BlockingClient) -> Result<T, ClientError> + Send + 'static,
    ) {
        let client = ui.client.clone();
        self.inner.spawn(&ui.ctx, &ui.busy, move || f(&client));
    }

    /// Whether a request is in flight or its result not yet taken.
    pub fn running(&self) -> bool {
        self.inner.running()
    }

    /// The result, once there.
    pub fn poll(&mut self) -> Option<Result<T, ClientError>> {
        self.inner.poll()
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
    pub client: BlockingClient,
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
        tracing::warn!(error = %e, "request failed");
        if e.is_unauthorized() {
            self.expired = true;
            self.error = Some(format!(
                "the session has expired ({}); sign in again",
                e.message()
            ));
        } else {
            self.error = Some(e.to_string());
        }
    }
}
