//! Keeps an HTTP worker's thread polling its sockets for a short while after it last handled
//! a WebSocket frame or a dispatch, instead of going to sleep in `epoll_wait` at once
//! (`server.worker_spin`; 0, the default, never spins).
//!
//! Why: at window 1 a send's round trip is a chain of wake-ups between threads, and on a
//! virtual machine a thread woken on an idle vCPU waits for that vCPU to come out of its halt
//! (tens of µs each, against a few µs for a thread that is still running: "The round trip of
//! one send on EPYC" in docs/performance.md). A worker that is still polling when the next
//! frame or flush arrives takes it without that wake.
//!
//! How, from outside actix-server (which builds its workers' runtimes itself, with no hook on
//! parking): a task on the worker that, while the worker was active within the window, yields
//! to the runtime at every turn. A current-thread runtime with a yielded task polls its I/O
//! driver without blocking (`epoll_wait` with timeout 0) and comes back, so the thread stays
//! on its vCPU. Past the window the task waits for the next activity, which wakes it from the
//! worker's own thread (no system call), and the worker sleeps as before: an idle server
//! spins only for one window after each heartbeat.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

thread_local! {
    static SPIN: RefCell<Option<Spin>> = const { RefCell::new(None) };
}

struct Spin {
    window: Duration,
    last_active: Instant,
    /// The spinner, while it waits for activity.
    parked: Option<Waker>,
}

/// Starts the spinner on the current worker's thread (once per thread; nothing when `window`
/// is zero). Must run on an actix arbiter.
pub fn start(window: Duration) {
    if window.is_zero() {
        return;
    }
    let started = SPIN.with(|spin| {
        let mut spin = spin.borrow_mut();
        if spin.is_some() {
            return false;
        }
        *spin = Some(Spin {
            window,
            last_active: Instant::now(),
            parked: None,
        });
        true
    });
    if started {
        actix_rt::spawn(spinner());
    }
}

/// Notes that this worker just did something (a frame, a flush): it keeps polling for the
/// window from now. Costs a clock read where no spinner runs on the thread.
pub fn active() {
    SPIN.with(|spin| {
        // A re-entrant call (the spinner's own wake runs nothing here) is simply skipped.
        let Ok(mut spin) = spin.try_borrow_mut() else {
            return;
        };
        if let Some(spin) = spin.as_mut() {
            spin.last_active = Instant::now();
            if let Some(waker) = spin.parked.take() {
                waker.wake();
            }
        }
    });
}

async fn spinner() {
    loop {
        // Spin while the worker was active within the window, then wait for activity.
        let spinning = poll_fn(|cx| {
            SPIN.with(|spin| match spin.borrow_mut().as_mut() {
                None => Poll::Ready(false),
                Some(spin) if spin.last_active.elapsed() < spin.window => Poll::Ready(true),
                Some(spin) => {
                    spin.parked = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        if !spinning {
            return;
        }
        tokio::task::yield_now().await;
    }
}
