// The waitline process: its subcommands, each returning the process exit status.
#pragma once

#include "config/config.hpp"

namespace waitline::app {

// Serves the API and admin listeners until SIGTERM or SIGINT (app/process.hpp); SIGHUP reloads
// the API keys and the ticket secret. Exit status 2 for a file the settings name that cannot be used.
int serve(const config::Config& cfg);

// Exit 0 when the local admin listener says ready: the container health check, without curl.
int healthcheck(const config::Config& cfg);

// `hash-key --name NAME --scopes SCOPES [--key KEY|-]`: prints a key and its key-file line.
int hash_key(int argc, const char* const* argv);

}  // namespace waitline::app
