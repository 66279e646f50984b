//! The library's only `unsafe`: the few `libc` calls std lacks (socket buffer sizes, signal
//! handlers, a thread's scheduling priority). Each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

fn setsockopt_int<S: AsRawFd>(sock: &S, opt: libc::c_int, value: usize) -> io::Result<()> {
    let v: libc::c_int = value.min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: the fd is a live socket borrowed for the call; we pass a pointer to a c_int on our
    // stack and its exact size, as setsockopt(2) requires for SO_SNDBUF / SO_RCVBUF.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt_int<S: AsRawFd>(sock: &S, opt: libc::c_int) -> io::Result<usize> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is live for the call; v and len are valid, writable and correctly sized.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v.max(0) as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets SO_SNDBUF (bytes; the kernel doubles it and applies its own bounds).
pub fn set_send_buffer<S: AsRawFd>(sock: &S, bytes: usize) -> io::Result<()> {
    setsockopt_int(sock, libc::SO_SNDBUF, bytes)
}

/// Sets SO_RCVBUF (bytes; the kernel doubles it and applies its own bounds).
pub fn set_recv_buffer<S: AsRawFd>(sock: &S, bytes: usize) -> io::Result<()> {
    setsockopt_int(sock, libc::SO_RCVBUF, bytes)
}

/// Reads SO_SNDBUF as the kernel applied it.
pub fn send_buffer<S: AsRawFd>(sock: &S) -> io::Result<usize> {
    getsockopt_int(sock, libc::SO_SNDBUF)
}

/// Reads SO_RCVBUF as the kernel applied it.
pub fn recv_buffer<S: AsRawFd>(sock: &S) -> io::Result<usize> {
    getsockopt_int(sock, libc::SO_RCVBUF)
}

/// Reads what the socket already holds without blocking (`recv` with `MSG_DONTWAIT`): `Ok(0)` means
/// the peer closed, `ErrorKind::WouldBlock` that nothing is waiting. One syscall, where std would
/// need three (set non-blocking, read, set blocking again).
pub fn recv_nonblocking<S: AsRawFd>(sock: &S, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the fd is a live socket borrowed for the call; buf is a valid, writable slice and we
    // pass its exact length, so the kernel writes at most buf.len() bytes into memory we own.
    let rc = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if rc >= 0 {
        Ok(rc as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Signals that [`install_signal_flags`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    Hangup,
}

static PENDING_SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn record_signal(sig: libc::c_int) {
    let bit = match sig {
        libc::SIGINT => 1,
        libc::SIGTERM => 2,
        libc::SIGHUP => 4,
        _ => 0,
    };
    // An atomic store is async-signal-safe.
    PENDING_SIGNALS.fetch_or(bit, Ordering::SeqCst);
}

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that only record the signal; read them with
/// [`take_signals`].
///
/// # Errors
/// The `sigaction` error.
pub fn install_signal_flags() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction is zero-initialisable (plain C struct); we set a handler that only does
        // an atomic fetch_or (async-signal-safe), an empty mask, and no SA_RESTART so blocking
        // reads see EINTR. The old action pointer may be null per POSIX.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = record_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True when SIGINT or SIGTERM was received and not yet taken by [`take_signals`] (which still
/// returns it): for a wait that should end early on a stop request.
pub fn stop_pending() -> bool {
    PENDING_SIGNALS.load(Ordering::SeqCst) & 3 != 0
}

/// Returns and clears the signals received since the last call.
pub fn take_signals() -> Vec<Signal> {
    let bits = PENDING_SIGNALS.swap(0, Ordering::SeqCst);
    let mut v = Vec::new();
    if bits & 1 != 0 {
        v.push(Signal::Interrupt);
    }
    if bits & 2 != 0 {
        v.push(Signal::Terminate);
    }
    if bits & 4 != 0 {
        v.push(Signal::Hangup);
    }
    v
}

/// Lowers the scheduling priority of the calling thread to `nice` and makes its policy
/// `SCHED_BATCH` (Linux: per thread, both inherited by threads it creates afterwards). The
/// mosquitto plugin's forwarder calls it before starting the bridge, so the bridge's threads yield
/// the CPU to mosquitto's thread under load, and a bridge thread that wakes up never preempts it
/// (a batch thread waits for the next tick or a free core). Best effort: a failure is logged (at
/// `debug!`), never returned.
pub fn lower_current_thread_priority(nice: i32) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; the param is a valid sched_param on our stack, read
    // only during the call (SCHED_BATCH takes priority 0, and an unprivileged thread may choose it).
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc != 0 {
        log::debug!(
            "sched_setscheduler(SCHED_BATCH) failed: {}",
            io::Error::last_os_error()
        );
    }
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // SAFETY: setpriority with PRIO_PROCESS and a thread id of this process only changes that
    // thread's nice value; it touches no memory.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc != 0 {
        log::debug!(
            "setpriority(tid={tid}, nice={nice}) failed: {}",
            io::Error::last_os_error()
        );
    }
}

/// The CPU time the calling thread has used (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`), to the
/// nanosecond: unlike `/proc/thread-self/schedstat`, which some kernels update only at each
/// scheduler tick (4 ms steps), it counts the time since the last tick too. For benchmarks.
pub fn thread_cpu_time() -> io::Result<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec on our stack; the clock id is a constant the
    // kernel knows, and the call writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::time::Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    ))
}
