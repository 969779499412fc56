//! A flow-control key's stored settings (§4.11, §9.5): the limits the most
//! recent message under the key brought, the limits an operator pinned over
//! them, and whether the key is paused. The live counters (attempts in
//! flight, starts in the current rate period, the waitlist) are the
//! engine's and are not stored.

use super::Millis;

/// One row of `flow_control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSettings {
    pub key: String,
    /// As received with the latest message; `None` is unlimited.
    pub parallelism: Option<u32>,
    pub rate: Option<u32>,
    /// Seconds.
    pub period: u64,
    pub paused: bool,
    /// Pinned parallelism: `Some(limit)` while pinned (`Some(None)` pins
    /// "unlimited"), `None` while the received value applies.
    pub pinned_parallelism: Option<Option<u32>>,
    /// Pinned rate and period, as for `pinned_parallelism`.
    pub pinned_rate: Option<(Option<u32>, u64)>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The limits in force for a key: the pin where there is one, else what
/// was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    pub parallelism: Option<u32>,
    pub rate: Option<u32>,
    /// Seconds, at least 1.
    pub period: u64,
}

impl FlowSettings {
    pub fn limits(&self) -> FlowLimits {
        let (rate, period) = self.pinned_rate.unwrap_or((self.rate, self.period));
        FlowLimits {
            parallelism: self.pinned_parallelism.unwrap_or(self.parallelism),
            rate,
            period: period.max(1),
        }
    }
}

/// What `POST /v2/flowControl/{key}/pin` sets (absent parts stay as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowPin {
    pub parallelism: Option<u32>,
    pub rate: Option<u32>,
    /// Seconds.
    pub period: Option<u64>,
}

/// A change an operator makes to a key (§4.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    Pause,
    Resume,
    ResetRate,
    Pin(FlowPin),
    /// Which pins to lift.
    Unpin {
        parallelism: bool,
        rate: bool,
    },
}

impl FlowAction {
    /// Whether the action starts a new rate period now (§4.11: resetRate,
    /// and pinning).
    pub fn resets_rate(&self) -> bool {
        matches!(self, FlowAction::ResetRate | FlowAction::Pin(_))
    }

    /// The settings after the action.
    pub fn apply(&self, mut s: FlowSettings) -> FlowSettings {
        match *self {
            FlowAction::Pause => s.paused = true,
            FlowAction::Resume => s.paused = false,
            FlowAction::ResetRate => {}
            FlowAction::Pin(pin) => {
                let now = s.limits();
                if let Some(p) = pin.parallelism {
                    s.pinned_parallelism = Some(Some(p));
                }
                if pin.rate.is_some() || pin.period.is_some() {
                    s.pinned_rate = Some((pin.rate.or(now.rate), pin.period.unwrap_or(now.period)));
                }
            }
            FlowAction::Unpin { parallelism, rate } => {
                if parallelism {
                    s.pinned_parallelism = None;
                }
                if rate {
                    s.pinned_rate = None;
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FlowSettings {
        FlowSettings {
            key: "k".into(),
            parallelism: Some(2),
            rate: Some(10),
            period: 60,
            paused: false,
            pinned_parallelism: None,
            pinned_rate: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_pin_wins_over_the_received_limits_until_unpinned() {
        let pinned = FlowAction::Pin(FlowPin {
            parallelism: Some(5),
            rate: None,
            period: Some(3),
        })
        .apply(settings());
        assert_eq!(
            pinned.limits(),
            FlowLimits {
                parallelism: Some(5),
                rate: Some(10),
                period: 3
            },
            "a period alone pins the rate in force with it"
        );
        let rate_unpinned = FlowAction::Unpin {
            parallelism: false,
            rate: true,
        }
        .apply(pinned);
        assert_eq!(rate_unpinned.limits().period, 60);
        assert_eq!(rate_unpinned.limits().parallelism, Some(5));
    }

    #[test]
    fn only_reset_rate_and_pin_start_a_new_period() {
        assert!(FlowAction::ResetRate.resets_rate());
        assert!(FlowAction::Pin(FlowPin::default()).resets_rate());
        assert!(!FlowAction::Pause.resets_rate());
    }
}
