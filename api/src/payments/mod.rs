//! Payments: a resident pays one or more open bills of a household through WeChat Pay (or
//! the dev provider of the embedded default); the front desk records cash, POS and bank
//! transfers; a succeeded payment has a receipt numbered per company and year. The server
//! computes every amount; WeChat Pay's notification is trusted only once verified.

pub mod dto;
mod handlers;
pub mod notify;
pub mod pdf;
pub mod refunds;

pub use handlers::PaymentsApi;
pub use refunds::RefundsApi;
