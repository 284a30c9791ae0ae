//! Solobase: one binary that speaks the Supabase wire protocol — Auth (`/auth/v1`), REST
//! (`/rest/v1`, PostgREST's grammar) and Realtime (`/realtime/v1`) — over embedded SQLite.
//!
//! The tree follows the request pipeline; see ARCHITECTURE.md for the map.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod hookgen;
pub mod migrate;
pub mod plpgsql;
pub mod realtime;
pub mod rest;
pub mod schema;
pub mod server;
pub mod storage;
pub mod store;
pub mod typegen;
pub mod wire;
