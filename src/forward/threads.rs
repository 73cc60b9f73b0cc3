//! A GstTaskPool whose threads stay: the forward pipeline's streaming
//! threads are the same ones each time it starts again.
//!
//! GStreamer's default pool hands a task to any idle thread of a GLib pool
//! that keeps only two idle threads for the whole process. A forward
//! pipeline that stops and starts for every client then runs its encoders on
//! ever new threads, and glibc gives new threads other malloc arenas: the
//! encoder's large buffers, freed and allocated again in another arena each
//! time, made the resident memory grow by 33 MB over 1000 restarts
//! (`benches/soak.py --forward-linger 0`: 47 to 80 MB; flat with
//! MALLOC_ARENA_MAX=2). With threads that stay, each restart allocates where
//! the last one freed: 61.2 to 63.6 MB over the same 1000 restarts.
//!
//! A task is given an idle thread of this pool, or a new thread when all
//! are busy; a thread whose task ended waits for the next one. The pool
//! never has more threads than the pipeline had tasks running at once, and
//! its idle threads end with it.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use gst::glib;
use gst::subclass::prelude::*;

use super::CAT;

glib::wrapper! {
    pub struct StayingThreadPool(ObjectSubclass<imp::StayingThreadPool>)
        @extends gst::TaskPool, gst::Object;
}

impl StayingThreadPool {
    pub fn new(name: &str) -> Self {
        let pool: Self = glib::Object::new();
        *pool.imp().shared.name.lock().unwrap() = name.to_string();
        pool
    }

    /// Threads made so far.
    pub fn threads(&self) -> usize {
        *self.imp().shared.threads.lock().unwrap()
    }
}

/// Lets the caller of `push` wait for its task to end.
pub struct Done(Arc<(Mutex<bool>, Condvar)>);

impl gst::TaskHandle for Done {
    fn join(self) {
        let (ended, cond) = &*self.0;
        let mut ended = ended.lock().unwrap();
        while !*ended {
            ended = cond.wait(ended).unwrap();
        }
    }
}

type Job = (gst::subclass::TaskPoolFunction, Arc<(Mutex<bool>, Condvar)>);

#[derive(Default)]
struct Shared {
    name: Mutex<String>,
    /// Threads waiting for a task, each behind its own channel.
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
    threads: Mutex<usize>,
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct StayingThreadPool {
        pub(super) shared: Arc<Shared>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for StayingThreadPool {
        const NAME: &'static str = "GstOnvifBackchannelStayingThreadPool";
        type Type = super::StayingThreadPool;
        type ParentType = gst::TaskPool;
    }

    impl ObjectImpl for StayingThreadPool {}
    impl GstObjectImpl for StayingThreadPool {}

    impl TaskPoolImpl for StayingThreadPool {
        type Handle = Done;

        fn push(&self, func: gst::subclass::TaskPoolFunction) -> Result<Option<Done>, glib::Error> {
            let done = Arc::new((Mutex::new(false), Condvar::new()));
            let mut job = (func, done.clone());
            // An idle thread, if one is left whose channel still works.
            loop {
                let Some(sender) = self.shared.idle.lock().unwrap().pop() else {
                    break;
                };
                match sender.send(job) {
                    Ok(()) => return Ok(Some(Done(done))),
                    Err(mpsc::SendError(back)) => job = back,
                }
            }
            let (sender, receiver) = mpsc::channel::<Job>();
            let shared = Arc::downgrade(&self.shared);
            let index = {
                let mut threads = self.shared.threads.lock().unwrap();
                *threads += 1;
                *threads
            };
            let name = format!("{}-{index}", self.shared.name.lock().unwrap());
            gst::debug!(CAT, imp = self, "new streaming thread {name}");
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut receiver = receiver;
                    // Ends when the pool is gone: no sender is left.
                    while let Ok((func, done)) = receiver.recv() {
                        func.call();
                        // Idle again before the task is seen to end, so
                        // that the next task finds this thread.
                        let shared = shared.upgrade();
                        if let Some(shared) = &shared {
                            let (sender, next) = mpsc::channel::<Job>();
                            shared.idle.lock().unwrap().push(sender);
                            receiver = next;
                        }
                        let (ended, cond) = &*done;
                        *ended.lock().unwrap() = true;
                        cond.notify_all();
                        if shared.is_none() {
                            return;
                        }
                    }
                })
                .map_err(|err| {
                    glib::Error::new(
                        gst::CoreError::Failed,
                        &format!("cannot start a thread: {err}"),
                    )
                })?;
            sender
                .send(job)
                .map_err(|_| glib::Error::new(gst::CoreError::Failed, "streaming thread gone"))?;
            Ok(Some(Done(done)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst::prelude::*;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_string()
    }

    /// Runs a task on `pool` and waits for it; returns its thread's name.
    fn run(pool: &StayingThreadPool) -> String {
        let (tx, rx) = mpsc::channel();
        let handle = pool
            .push(move || tx.send(thread_name()).unwrap())
            .unwrap()
            .expect("a handle to join");
        handle.join();
        rx.recv().unwrap()
    }

    #[test]
    fn tasks_one_after_another_run_on_the_same_thread() {
        gst::init().unwrap();
        let pool = StayingThreadPool::new("test-pool");
        let first = run(&pool);
        assert!(first.starts_with("test-pool-"), "{first}");
        for _ in 0..20 {
            assert_eq!(run(&pool), first);
        }
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn tasks_at_once_get_threads_of_their_own_which_stay() {
        gst::init().unwrap();
        let pool = StayingThreadPool::new("test-pool");
        let gate = Arc::new(std::sync::Barrier::new(3));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                pool.push(move || {
                    gate.wait();
                })
                .unwrap()
                .unwrap()
            })
            .collect();
        // Both run at once, or this waits forever.
        gate.wait();
        for handle in handles {
            handle.join();
        }
        assert_eq!(pool.threads(), 2);
        for _ in 0..10 {
            run(&pool);
        }
        assert_eq!(pool.threads(), 2);
    }

    #[test]
    fn idle_threads_end_with_the_pool() {
        gst::init().unwrap();
        let pool = StayingThreadPool::new("test-pool-end");
        run(&pool);
        let alive = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .any(|comm| comm.trim() == "test-pool-end-1")
        };
        assert!(alive());
        drop(pool);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "idle thread still there"
            );
            std::thread::yield_now();
        }
    }
}
