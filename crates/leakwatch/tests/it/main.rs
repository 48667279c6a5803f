//! The integration tests of `leakwatch`, one binary: each module is one topic.

mod demo;
mod fleet;
mod go_pie;
mod goroutine_leak;
mod live_fleet;
mod live_view;
mod native;
mod oracle;
mod power;
mod render_flame;
mod report_browser;
mod scenarios;
mod support;
mod unix_manners;
mod watch;
