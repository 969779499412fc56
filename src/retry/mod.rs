//! When to retry a failed delivery (docs/qstash-wire.md §9.1–§9.3).
//!
//! Three inputs decide the wait before the next attempt, strongest first:
//! 1. a rate-limit signal in the destination's response ([`retry_after`]),
//! 2. the message's own `Upstash-Retry-Delay` expression ([`RetryDelayExpr`]),
//! 3. QStash's default exponential backoff ([`default_backoff`]).
//!
//! A 489 response with `Upstash-NonRetryable-Error: true` ([`is_non_retryable`]) skips all of
//! them and fails the message at once.
//!
//! Everything here is pure (the clock is a parameter) and total: no input, however hostile,
//! makes these functions panic, because they run on the delivery path, where one bad
//! message must not take the worker down.

mod backoff;
mod expr;
mod signals;

use std::time::Duration;

pub use backoff::default_backoff;
pub use expr::{RetryDelayExpr, RetryExprError};
pub use signals::{is_non_retryable, retry_after};

/// The longest wait between two attempts: QStash caps both the default backoff and rate-limit
/// signals at one day (§9.1, §9.3), and we apply the same cap to retry-delay expressions.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(86_400);

/// Longest accepted `Upstash-Retry-Delay` expression, in bytes after trimming. Real
/// expressions are a few dozen bytes; the limit bounds parse time and memory per message.
pub const MAX_EXPR_LEN: usize = 1024;

/// Deepest accepted nesting of parentheses, function calls and unary minus. The parser
/// recurses once per level, so this bounds its stack use on hostile input such as
/// `((((…` or `----…1`.
pub const MAX_EXPR_DEPTH: usize = 64;
