//! External services a transport needs — a broker, a database — started
//! once per run, before the first case, and stopped after the last.
//!
//! A [`Service`] is a name and a function that starts it: it gives the
//! service's address and a guard that stops the service when dropped. A
//! transport that needs it is made with [`Transport::with_service`](crate::Transport::with_service), whose
//! open function receives the address. Nothing else is needed in `main!`:
//! the suite starts every service its transports use.
//!
//! ```no_run
//! use state_sync_conformance::{Capabilities, Service, Suite, Transport};
//! # mod my_transport {
//! #     pub struct Bus;
//! #     impl Bus {
//! #         pub fn connect(_: &str) -> Result<state_sync_transports::memory::Bus, String> {
//! #             Ok(state_sync_transports::memory::Bus::new())
//! #         }
//! #     }
//! # }
//!
//! /// The broker's process, killed when dropped.
//! struct Broker(std::process::Child);
//! impl Drop for Broker {
//!     fn drop(&mut self) {
//!         let _ = self.0.kill();
//!         let _ = self.0.wait();
//!     }
//! }
//!
//! let broker = Service::new("my-broker", || {
//!     let child = std::process::Command::new("my-broker").arg("--port=7777").spawn()?;
//!     Ok::<_, std::io::Error>(("127.0.0.1:7777".to_owned(), Broker(child)))
//! });
//! let transport = Transport::with_service("my-transport", &broker, |address: &str| {
//!     my_transport::Bus::connect(address)
//! })
//! .with_capabilities(Capabilities::all());
//! // In a test target: `state_sync_conformance::main!(suite);`
//! let suite = Suite::new().transport(transport);
//! # let _ = suite;
//! ```
//!
//! # When it runs
//!
//! * `cargo test` (through [`main!`](crate::main)) and [`Suite::run`](crate::Suite::run)
//!   start each service once, before any case, in the process that runs
//!   the suite, and stop it when the run is over — its reports written,
//!   whether cases passed, failed or crashed. The processes cases run in
//!   get the address through the environment, [`service_env`] of the
//!   service's name.
//! * That variable, set before the run, names a service already running
//!   (a broker of your own, on another host): nothing is started.
//! * cargo-nextest runs each case in a process of its own: each starts the
//!   service for its case (or uses the variable, which nextest passes on).
//! * A service that does not start makes each case of its transports an
//!   `error` showing why; other transports' cases run as usual.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

type StartFn = dyn Fn() -> Result<(String, Box<dyn Send>), String> + Send + Sync;

/// An external service cases need (see the module docs).
///
/// Cheap to clone; clones are the same service.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    start: Box<StartFn>,
    /// The address while the suite runs, or why the service did not start.
    address: Mutex<Option<Result<String, String>>>,
}

impl Service {
    /// A service named `name` (letters, digits, `-`, `_`) that `start`
    /// starts: it gives the address the transport connects to and a guard
    /// that stops the service when dropped.
    pub fn new<G, E, F>(name: impl Into<String>, start: F) -> Self
    where
        F: Fn() -> Result<(String, G), E> + Send + Sync + 'static,
        G: Send + 'static,
        E: fmt::Display,
    {
        let name = name.into();
        Self {
            inner: Arc::new(Inner {
                start: Box::new({
                    let name = name.clone();
                    move || match start() {
                        Ok((address, guard)) => Ok((address, Box::new(guard) as Box<dyn Send>)),
                        Err(e) => Err(format!("the service {name} did not start: {e}")),
                    }
                }),
                name,
                address: Mutex::new(None),
            }),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The address, while the suite runs; or why there is none.
    pub fn address(&self) -> Result<String, String> {
        self.inner.address.lock().clone().unwrap_or_else(|| {
            Err(format!(
                "the service {} is not running: it runs while a Suite runs its cases",
                self.inner.name
            ))
        })
    }

    fn same(&self, other: &Service) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

/// The environment variable that carries service `name`'s address:
/// `STATE_SYNC_CONFORMANCE_SERVICE_` and the name in upper case, `-` as
/// `_`.
pub fn service_env(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        })
        .collect();
    format!("STATE_SYNC_CONFORMANCE_SERVICE_{name}")
}

/// The services of a run, up while it is held: dropping it stops the
/// services it started and forgets every address.
pub(crate) struct Running {
    services: Vec<Service>,
    guards: Vec<Box<dyn Send>>,
}

impl Running {
    /// No service.
    pub(crate) fn none() -> Self {
        Self {
            services: Vec::new(),
            guards: Vec::new(),
        }
    }

    /// Starts (or finds in the environment) every service of `services`,
    /// each once.
    pub(crate) fn start<'a>(services: impl IntoIterator<Item = &'a Service>) -> Self {
        let mut running = Self::none();
        for service in services {
            if running.services.iter().any(|s| s.same(service)) {
                continue;
            }
            let address = match std::env::var(service_env(service.name())) {
                Ok(address) => Ok(address),
                Err(_) => (service.inner.start)().map(|(address, guard)| {
                    running.guards.push(guard);
                    address
                }),
            };
            *service.inner.address.lock() = Some(address);
            running.services.push(service.clone());
        }
        running
    }

    /// The environment the processes that run cases need: each started
    /// service's address.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        self.services
            .iter()
            .filter_map(|s| Some((service_env(s.name()), s.address().ok()?)))
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for service in &self.services {
            *service.inner.address.lock() = None;
        }
        // Stopped in the reverse order of starting.
        while let Some(guard) = self.guards.pop() {
            drop(guard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_service_runs_once_while_held_and_stops_when_dropped() {
        let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let service = Service::new("test-broker-a", {
            let (starts, stops) = (starts.clone(), stops.clone());
            move || {
                let n = starts.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>((format!("addr-{n}"), Counted(stops.clone())))
            }
        });
        assert!(
            service
                .address()
                .expect_err("not running")
                .contains("not running")
        );
        let running = Running::start([&service, &service.clone()]);
        assert_eq!(service.address().as_deref(), Ok("addr-0"));
        assert_eq!(starts.load(Ordering::SeqCst), 1, "started once");
        assert_eq!(
            running.env(),
            vec![(service_env("test-broker-a"), "addr-0".to_owned())]
        );
        drop(running);
        assert_eq!(stops.load(Ordering::SeqCst), 1, "stopped");
        assert!(service.address().is_err());
    }

    #[test]
    fn a_service_that_does_not_start_says_why() {
        let service = Service::new("test-broker-b", || Err::<(String, ()), _>("no binary"));
        let _running = Running::start([&service]);
        assert_eq!(
            service.address(),
            Err("the service test-broker-b did not start: no binary".to_owned())
        );
    }

    #[test]
    fn the_variable_is_the_name_in_upper_case() {
        assert_eq!(
            service_env("redis-7.0"),
            "STATE_SYNC_CONFORMANCE_SERVICE_REDIS_7_0"
        );
    }
}
