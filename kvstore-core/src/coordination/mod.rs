//! Coordination built once on the backend contract (leases + transactions + watches), so every
//! backend behaves the same.

mod lock;

pub use lock::LockGuard;
