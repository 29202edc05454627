//! The transport under test: a [`Backend`], a name, and what it claims.
//!
//! The kit drives a transport through one trait,
//! [`Backend`] from `state-sync-transports`
//! — the same trait the reference transports implement. A [`Transport`]
//! adds what the kit needs around it: a name for reports and test names,
//! the [`Capabilities`] the transport claims, and a function that opens a
//! fresh backend for every case.
//!
//! ```
//! use state_sync_conformance::{Capabilities, Transport};
//! use state_sync_transports::memory;
//!
//! let transport = Transport::new("my-memory", memory::Bus::new)
//!     .with_capabilities(Capabilities::all());
//! assert_eq!(transport.name(), "my-memory");
//! ```
//!
//! # When `open` runs
//!
//! The kit calls the open function once per case, on the case's own thread
//! and inside the case's tokio runtime (a current-thread runtime on paused
//! virtual time), so it may spawn tasks. Then it installs the case's source
//! of truth with [`Backend::serve`],
//! asks for window ends with
//! [`Backend::window_ends`] —
//! the `label` is the spec window's `label` (its name unless the spec says
//! otherwise; engines sharing a label model one window syncing several
//! topics) — and drops the backend when the case ends.

use std::fmt;
use std::sync::Arc;

use state_sync_transports::Backend;

use crate::driver::Driver;

pub use crate::capabilities::Capabilities;
pub use crate::service::Service;

type OpenFn = dyn Fn() -> Result<Box<dyn Backend>, String> + Send + Sync;

/// A transport under test.
///
/// Cheap to clone (the open function is shared).
#[derive(Clone)]
pub struct Transport {
    name: String,
    capabilities: Capabilities,
    real_time: bool,
    open: Arc<OpenFn>,
    driver: Option<Driver>,
    /// Held by the case running, when cases take turns.
    turns: Option<Arc<parking_lot::Mutex<()>>>,
    /// What must run while its cases do.
    services: Vec<Service>,
}

impl Transport {
    /// A transport named `name` (letters, digits, `-` and `_`: it appears in
    /// test names and reports) whose backends `open` makes, claiming no
    /// capabilities.
    pub fn new<B, F>(name: impl Into<String>, open: F) -> Self
    where
        B: Backend,
        F: Fn() -> B + Send + Sync + 'static,
    {
        Self {
            name: name.into(),
            capabilities: Capabilities::none(),
            real_time: false,
            open: Arc::new(move || Ok(Box::new(open()))),
            driver: None,
            turns: None,
            services: Vec::new(),
        }
    }

    /// A transport whose backends may fail to open (a socket to bind, a
    /// process to start): a case whose backend does not open ends with an
    /// `error` verdict showing `open`'s error.
    ///
    /// ```
    /// use state_sync_conformance::{Capabilities, Transport};
    /// use state_sync_transports::ipc;
    ///
    /// let transport = Transport::try_new("my-ipc", ipc::Server::new)
    ///     .with_capabilities(Capabilities::all());
    /// # let _ = transport;
    /// ```
    pub fn try_new<B, E, F>(name: impl Into<String>, open: F) -> Self
    where
        B: Backend,
        E: fmt::Display,
        F: Fn() -> Result<B, E> + Send + Sync + 'static,
    {
        Self {
            name: name.into(),
            capabilities: Capabilities::none(),
            real_time: false,
            open: Arc::new(move || match open() {
                Ok(backend) => Ok(Box::new(backend) as Box<dyn Backend>),
                Err(e) => Err(e.to_string()),
            }),
            driver: None,
            turns: None,
            services: Vec::new(),
        }
    }

    /// A transport whose backends connect to an external [`Service`] — a
    /// broker the suite starts once per run, before the first case, and
    /// stops after the last (see [`crate::service`]). `open` gets the
    /// service's address; a case whose service did not start, or whose
    /// backend does not open, ends with an `error` verdict saying why.
    pub fn with_service<B, E, F>(name: impl Into<String>, service: &Service, open: F) -> Self
    where
        B: Backend,
        E: fmt::Display,
        F: Fn(&str) -> Result<B, E> + Send + Sync + 'static,
    {
        let needed = service.clone();
        let mut transport = Self::try_new(name, move || {
            let address = needed.address()?;
            open(&address).map_err(|e| e.to_string())
        });
        transport.services.push(service.clone());
        transport
    }

    /// The services this transport's backends need
    /// ([`Transport::with_service`]).
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// Claims `capabilities`. Specs that need one the transport does not
    /// claim are `unsupported`, never failed; declare only what is true.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Runs this transport's cases on real time instead of paused virtual
    /// time: for a transport that cannot be run on virtual time at all.
    ///
    /// Virtual time is the default and the better choice even for a
    /// transport doing real I/O: the kit holds the clock still while the
    /// transport has work in flight, so real I/O takes no virtual time. On
    /// real time, delays, debounce, retries and advances take real time,
    /// each stretched
    /// ([`RunOptions::real_time_stretch`](crate::RunOptions::real_time_stretch));
    /// a `settle` step ends as soon as the case is quiet — the transport
    /// settled, nothing in flight, every window idle — (a failure if it is
    /// not and nothing moved in the case for half the
    /// [hang limit](crate::RunOptions::hang_limit), 30 s by default, or
    /// twice the hang limit passed in all); an `advance` waits after its
    /// sleep until what fell due has happened and the windows have reacted
    /// to it (a late timer on a loaded machine changes nothing the next
    /// step sees); a `start` or `refresh` may wait as long as a settle; and
    /// only a spec whose timing is exact to the millisecond
    /// ([`Spec::needs_virtual_time`](crate::Spec::needs_virtual_time)) is
    /// `unsupported`.
    pub fn on_real_time(mut self) -> Self {
        self.real_time = true;
        self
    }

    /// Runs this transport's cases one after another, never two at once
    /// (within one process): for backends that share one resource a
    /// process can have only once — a Tauri app on a real runtime, whose
    /// event loop is made once per process; a device; a broker without a
    /// way to keep cases apart. Each case still gets its own backend from
    /// `open`; a case waiting for its turn is not running, so the wait
    /// does not count towards its hang limit.
    ///
    /// Cases of other transports run beside them as usual.
    pub fn one_case_at_a_time(mut self) -> Self {
        self.turns = Some(Arc::default());
        self
    }

    /// Whether cases take turns ([`Transport::one_case_at_a_time`]).
    pub fn runs_one_case_at_a_time(&self) -> bool {
        self.turns.is_some()
    }

    /// Waits for this case's turn, if cases take turns: held until the
    /// case ended.
    pub(crate) fn turn(&self) -> Option<parking_lot::MutexGuard<'_, ()>> {
        self.turns.as_deref().map(parking_lot::Mutex::lock)
    }

    /// Runs every window's engine in `driver` (a process speaking the
    /// driver protocol) instead of `state-sync`'s in-process engine: the
    /// transport carries the events and snapshots, the driver's engine
    /// does the rest. Specs needing what the driver does not claim are
    /// `unsupported`.
    pub fn with_driver(mut self, driver: Driver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// The driver hosting the engines, if any ([`Transport::with_driver`]).
    pub fn driver(&self) -> Option<&Driver> {
        self.driver.as_ref()
    }

    /// Renames the transport (what a report and a test name show).
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Whether cases run on real time ([`Transport::on_real_time`]).
    pub fn runs_on_real_time(&self) -> bool {
        self.real_time
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The claimed capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// A fresh backend (what the kit does at the start of every case), or
    /// why it did not open.
    pub fn open(&self) -> Result<Box<dyn Backend>, String> {
        (self.open)()
    }

    /// Why the name cannot be used, if it cannot.
    pub(crate) fn check_name(&self) -> Result<(), String> {
        let ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "transport name {:?}: use letters, digits, `-` and `_` (it becomes part of test names)",
                self.name
            ))
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("name", &self.name)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}
