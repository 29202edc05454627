//! One case: one spec run against one transport, along its data path.
//!
//! | module | what it owns |
//! |---|---|
//! | `isolate` | the case's own thread and tokio runtime on paused virtual time, the watchdog that ends a case without progress for the hang limit, panic capture on every thread |
//! | `real_time` | a case on real time: settling until the case is quiet, its budget |
//! | `wiring` | a spec window made real: the transport's ends → observation (transport side) → fault layer → observation (engine side) → retry → engine |
//! | `engine` | the engine a window drives: `state-sync`'s, in-process, or one hosted by a driver process — the one seam between the two |
//! | `bus` | the transport's backends (one per bus the spec names), their ledgers, and the writing side: changes of the source, emits |
//! | `reactions` | `on_apply`: changes made from inside a window's apply |
//! | `steps` | the interpreter: one arm per step kind |
//! | `gate` | what a case can check on its target: the expectations it skips (not checked) and counts |
//! | `checks` | `expect`, the outcome of `start`/`refresh`, and the invariants checked at teardown, each naming its clause |
//!
//! [`run_case`] builds the [`CaseResult`] once, from what the isolated run
//! hands back.
//!
//! # Adding to the scenario language
//!
//! * a step: its type in `spec::steps` (and a variant of `Step`), its arm in
//!   `steps`, its section in `docs/spec-format.md`;
//! * an expectation: a field of `spec::Expect`, its check in `checks`, its
//!   line in the doc;
//! * a fault: its setting in `spec::faults`, its decision in
//!   `layers::faults::plan`, where it acts in `layers::faults`.

mod bus;
mod call_error;
mod checks;
mod engine;
mod gate;
mod isolate;
mod outcome;
mod reactions;
mod real_time;
mod steps;
mod wiring;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::failure::{Failure, broken_clauses};
use crate::spec::Spec;
use crate::transport::Transport;
use crate::verdict::{CaseResult, Verdict};

pub use self::call_error::CallError;
use self::gate::Gate;
pub use self::outcome::{DEFAULT_BUDGET_MS, DEFAULT_SETTLE_MS};
use self::outcome::{Outcome, fnv1a};

/// What a spec that [needs virtual time](Spec::needs_virtual_time) misses
/// on a transport run [on real time](Transport::on_real_time).
pub const VIRTUAL_TIME: &str = "virtual-time";

/// Builds the command that reruns one case from `(transport, spec id, seed)`.
pub type RerunCommand = Arc<dyn Fn(&str, &str, u64) -> String + Send + Sync>;

/// The default [`RunOptions::real_time_stretch`].
pub const DEFAULT_REAL_TIME_STRETCH: NonZeroU32 = NonZeroU32::new(4).unwrap();

/// The default [`RunOptions::hang_limit`]: a minute of real time without
/// progress (see `docs/writing-a-transport.md` for what was measured).
pub const DEFAULT_HANG_LIMIT: Duration = Duration::from_secs(60);

/// The default [`RunOptions::watchdog`]: half an hour of real time.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(30 * 60);

/// How cases are run.
///
/// ```
/// use std::time::Duration;
/// use state_sync_conformance::RunOptions;
///
/// let options = RunOptions::default().with_seed(42).with_hang_limit(Duration::from_secs(120));
/// assert_eq!(options.seed, Some(42));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Use this seed for every case instead of the spec's own.
    pub seed: Option<u64>,
    /// Real time a case may go without progress — no work in flight
    /// starting or finishing, no delivery, no word from its driver, its
    /// virtual clock not moving — before it ends as `timeout`, naming the
    /// work it waited for (or saying that its thread is blocked). Only a
    /// hang meets it: a slow machine only takes longer. Default
    /// [`DEFAULT_HANG_LIMIT`].
    pub hang_limit: Duration,
    /// Real time a case may take in all, progress or not: only a case that
    /// keeps working without ever finishing (a transport redelivering
    /// forever) meets it. Default [`DEFAULT_WATCHDOG`].
    pub watchdog: Duration,
    /// On real time ([`Transport::on_real_time`]), every duration a spec
    /// states — advances, settles, spaced changes, injected delays,
    /// debounce, throttle and retry timing, the bounds of `stopped` — is
    /// multiplied by this. The relations between them stay, and each
    /// margin between them (a snapshot delayed 100 ms still on its way
    /// after an `advance` of 50) grows past what a loaded machine's late
    /// wake-ups take away; the transport's own timing is not stretched.
    /// `1` runs the spec's timing as written: faster, and only as steady
    /// as the machine. Default [`DEFAULT_REAL_TIME_STRETCH`].
    pub real_time_stretch: NonZeroU32,
    /// Builds the command that reruns one case: `(transport, spec id, seed)`.
    pub rerun: RerunCommand,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: None,
            hang_limit: DEFAULT_HANG_LIMIT,
            watchdog: DEFAULT_WATCHDOG,
            real_time_stretch: DEFAULT_REAL_TIME_STRETCH,
            rerun: Arc::new(|transport, spec, seed| {
                format!(
                    "state-sync-conformance run --transport {transport} --spec {spec} --seed {seed}"
                )
            }),
        }
    }
}

impl RunOptions {
    /// Runs every case with `seed` instead of the spec's own.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The real time a case may go without progress
    /// ([`RunOptions::hang_limit`]).
    pub fn with_hang_limit(mut self, hang_limit: Duration) -> Self {
        self.hang_limit = hang_limit;
        self
    }

    /// How much a spec's durations are stretched on real time
    /// ([`RunOptions::real_time_stretch`]).
    pub fn with_real_time_stretch(mut self, factor: NonZeroU32) -> Self {
        self.real_time_stretch = factor;
        self
    }

    /// The real time a case may take in all ([`RunOptions::watchdog`]).
    pub fn with_watchdog(mut self, watchdog: Duration) -> Self {
        self.watchdog = watchdog;
        self
    }

    /// How the command that reruns one case is written.
    pub fn with_rerun(
        mut self,
        rerun: impl Fn(&str, &str, u64) -> String + Send + Sync + 'static,
    ) -> Self {
        self.rerun = Arc::new(rerun);
        self
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("hang_limit", &self.hang_limit)
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

/// Parses a positive number of seconds (`90`, `2.5`), as the CLI's
/// `--hang-limit` and [`HANG_LIMIT_ENV`](crate::harness::HANG_LIMIT_ENV)
/// take a hang limit.
///
/// ```
/// use std::time::Duration;
/// use state_sync_conformance::case::parse_seconds;
///
/// assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
/// assert!(parse_seconds("soon").is_err());
/// assert!(parse_seconds("0").is_err());
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("{text:?}: give a positive number of seconds")),
    }
}

/// The seed a spec runs with when none is forced: its own, or one derived
/// from its id (FNV-1a), so every spec has a stable seed.
pub fn spec_seed(spec: &Spec) -> u64 {
    spec.seed.unwrap_or_else(|| fnv1a(spec.id.as_bytes()))
}

/// Runs `spec` against `transport` and returns its (raw) result: known
/// failures are applied by the caller.
pub fn run_case(spec: &Spec, transport: &Transport, options: &RunOptions) -> CaseResult {
    let seed = options.seed.unwrap_or_else(|| spec_seed(spec));
    let mut missing: Vec<String> = transport
        .capabilities()
        .missing(&spec.requires)
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    if transport.runs_on_real_time() && spec.needs_virtual_time().is_some() {
        missing.push(VIRTUAL_TIME.to_owned());
    }
    let mut broken_driver = None;
    let mut driver_info = None;
    if let Some(driver) = transport.driver() {
        match driver.info() {
            Ok(info) => {
                missing.extend(
                    crate::driver::needs(spec)
                        .into_iter()
                        .filter(|c| !info.capabilities.contains(*c))
                        .map(|c| format!("driver:{c}")),
                );
                driver_info = Some(info);
            }
            Err(why) => broken_driver = Some(why.to_owned()),
        }
    }
    let gate = Gate::new(spec, transport, driver_info);
    if missing.is_empty() && gate.nothing_left {
        // Nothing of substance would be checked: not a pass.
        missing.extend(gate.not_checked.iter().map(ToString::to_string));
    }
    let outcome = if let Some(why) = broken_driver {
        Outcome::broken(Verdict::Error, why)
    } else if missing.is_empty() {
        let _turn = transport.turn();
        if transport.runs_on_real_time() {
            let stretched = spec.stretched(options.real_time_stretch);
            isolate::run(&stretched, transport, seed, options, &gate.lacking)
        } else {
            isolate::run(spec, transport, seed, options, &gate.lacking)
        }
    } else {
        Outcome::of(Verdict::Unsupported, Vec::new(), 0)
    };
    let (checked, not_checked) = if missing.is_empty() {
        (gate.checked, gate.not_checked)
    } else {
        (0, Vec::new())
    };
    CaseResult {
        checked,
        not_checked,
        missing,
        ..assemble(spec, transport, options, seed, outcome)
    }
}

/// The result of `spec` on `transport` that ended as `outcome` (nothing
/// checked, nothing missing: the caller says otherwise).
fn assemble(
    spec: &Spec,
    transport: &Transport,
    options: &RunOptions,
    seed: u64,
    outcome: Outcome,
) -> CaseResult {
    let passed = matches!(outcome.verdict, Verdict::Pass | Verdict::Unsupported);
    CaseResult {
        transport: transport.name().to_owned(),
        spec: spec.id.clone(),
        title: spec.title.clone(),
        level: spec.level,
        clauses: spec.clauses.clone(),
        verdict: outcome.verdict,
        seed,
        virtual_ms: outcome.virtual_ms,
        on_real_time: transport.runs_on_real_time(),
        broken_clauses: broken_clauses(&outcome.failures),
        failures: outcome.failures.iter().map(ToString::to_string).collect(),
        checked: 0,
        not_checked: Vec::new(),
        known_failure: None,
        missing: Vec::new(),
        trace: if passed { Vec::new() } else { outcome.trace },
        rerun: (!passed).then(|| (options.rerun)(transport.name(), &spec.id, seed)),
    }
}

/// The result of a case whose process ended before the case did (a stack
/// overflow, an abort, a `std::process::exit` in the transport): `error`,
/// saying `why`, with the trace the case had written until then.
pub(crate) fn crashed(
    spec: &Spec,
    transport: &Transport,
    options: &RunOptions,
    why: String,
    trace: Vec<crate::verdict::TraceEntry>,
) -> CaseResult {
    let seed = options.seed.unwrap_or_else(|| spec_seed(spec));
    let virtual_ms = trace.last().map_or(0, |e| e.at_ms);
    let outcome = Outcome {
        trace,
        ..Outcome::of(Verdict::Error, vec![Failure::unclaused(why)], virtual_ms)
    };
    assemble(spec, transport, options, seed, outcome)
}
