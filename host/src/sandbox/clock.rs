//! Guest time, as opposed to wall time: the clock stops while a host call runs, so a
//! 20-minute dump does not count against the plugin's CPU deadline, and a `loop {}` does.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct GuestClock {
    started: Instant,
    in_host: Duration,
}

impl Default for GuestClock {
    fn default() -> Self {
        GuestClock {
            started: Instant::now(),
            in_host: Duration::ZERO,
        }
    }
}

impl GuestClock {
    pub fn restart(&mut self) {
        *self = GuestClock::default();
    }

    pub fn leave_host(&mut self, entered: Instant) {
        self.in_host += entered.elapsed();
    }

    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}
