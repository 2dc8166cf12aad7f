// The JSON type of ganpp (config.json, log.jsonl, metrics): nlohmann's ordered JSON, which keeps keys in the
// order they were written.
#pragma once

#include <nlohmann/json.hpp>

namespace ganpp {

using Json = nlohmann::ordered_json;

}  // namespace ganpp
