//! Library errors as Python exceptions, and long calls run off the interpreter's thread.
//!
//! Scenario and route errors become `qkdsim.ScenarioError` / `qkdsim.RouteError` (both
//! `ValueError`s, defined in `qkdsim/_errors.py`), carrying every violation line the
//! library wrote; the Python side reads the key path, value and allowed range out of each
//! line (the library writes them as `key.path: must be <rule>, got <value>`). Bad
//! arguments are `ValueError`; a cancelled call is the `KeyboardInterrupt` that cancelled
//! it. Must never hold the GIL while the simulation runs.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use qkdsim::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often the waiting interpreter thread takes the GIL back to run Python's signal
/// handlers (Ctrl-C) while a call runs.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// An instance of one of the exception classes of `qkdsim._errors`.
fn python_error(py: Python<'_>, class: &str, message: &str, lines: &[String]) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let cls = py.import("qkdsim._errors")?.getattr(class)?;
        let lines = PyList::new(py, lines)?;
        Ok(PyErr::from_value(cls.call1((message, lines))?))
    };
    make().unwrap_or_else(|e| e)
}

/// `qkdsim.ScenarioError(message, lines)`.
pub fn scenario_error(py: Python<'_>, message: &str, lines: &[String]) -> PyErr {
    python_error(py, "ScenarioError", message, lines)
}

/// The library's error as a Python exception; `context` (such as "in scenario file X")
/// prefixes the message, as the command line does.
pub fn to_py_err(py: Python<'_>, e: Error, context: Option<&str>) -> PyErr {
    let message = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    match e {
        Error::ScenarioSyntax(_) => python_error(py, "ScenarioError", &message, &[]),
        Error::ScenarioInvalid(lines) => python_error(py, "ScenarioError", &message, &lines),
        Error::UnknownKey(text) => python_error(py, "ScenarioError", &message, &[text]),
        Error::RouteSyntax(_) => python_error(py, "RouteError", &message, &[]),
        Error::RouteInvalid(lines) => python_error(py, "RouteError", &message, &lines),
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::Environment(_) => PyRuntimeError::new_err(message),
        Error::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err(message),
        // The enum may grow; anything new is at least an error with its message.
        #[allow(unreachable_patterns)]
        _ => PyRuntimeError::new_err(message),
    }
}

/// A completion flag the worker raises and the waiting thread sleeps on.
type Done = Arc<(Mutex<bool>, Condvar)>;

/// Runs `job` on its own thread, inside a rayon pool of `threads` workers (0: one per
/// core), with the GIL released. Every [`SIGNAL_POLL`] the calling thread takes the GIL
/// back and runs Python's signal handlers; when one raises (Ctrl-C: `KeyboardInterrupt`)
/// the cancellation flag handed to `job` is set, the call waits for `job` to stop (the
/// library checks the flag between engine batches and blocks), and the handler's
/// exception is raised. A panic in `job` (a bug) becomes a `RuntimeError`, never an abort
/// of the interpreter.
pub fn run_detached<T, F>(py: Python<'_>, threads: usize, job: F) -> PyResult<Result<T, Error>>
where
    T: Send,
    F: FnOnce(Arc<AtomicBool>) -> Result<T, Error> + Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the thread pool: {e}")))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let done: Done = Arc::new((Mutex::new(false), Condvar::new()));
    std::thread::scope(|scope| {
        let worker = {
            let (cancel, done) = (cancel.clone(), done.clone());
            scope.spawn(move || {
                // Raise the flag even if the job panics, so the waiting loop ends.
                struct Finish(Done);
                impl Drop for Finish {
                    fn drop(&mut self) {
                        let (lock, cv) = &*self.0;
                        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
                        cv.notify_all();
                    }
                }
                let _finish = Finish(done);
                pool.install(|| job(cancel))
            })
        };
        let mut interrupted: Option<PyErr> = None;
        loop {
            let finished = py.detach(|| {
                let (lock, cv) = &*done;
                let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = cv
                    .wait_timeout_while(guard, SIGNAL_POLL, |finished| !*finished)
                    .unwrap_or_else(|p| p.into_inner());
                *guard
            });
            if finished {
                break;
            }
            if interrupted.is_none()
                && let Err(e) = py.check_signals()
            {
                cancel.store(true, Ordering::Relaxed);
                interrupted = Some(e);
            }
        }
        let joined = py.detach(|| worker.join());
        if let Some(e) = interrupted {
            return Err(e);
        }
        match joined {
            Ok(result) => Ok(result),
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(PyRuntimeError::new_err(format!(
                    "internal error in qkdsim (please report it): {what}"
                )))
            }
        }
    })
}
