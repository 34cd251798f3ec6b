#pragma once
// The kinds the stand-in API server serves, and the discovery documents kubectl reads to
// map a manifest's apiVersion/kind to a URL (/api, /api/v1, /apis, /apis/<group>/<version>).
//
// Thread: immutable tables; any thread.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace lintel::standin {

using json = nlohmann::json;

struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  // Served with a /status subresource: writes to the main resource keep the old status,
  // writes to /status change nothing but status (as the real server does).
  bool status_subresource = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string list_kind() const { return kind + "List"; }
  // "ingresses.networking.k8s.io" / "services": how the real server names a resource in
  // Status messages and details.
  std::string qualified_plural() const { return group.empty() ? plural : plural + "." + group; }
  // Identity in the store and in state.json: core v1 Events and events.k8s.io/v1 Events
  // are kept apart (the real server converts between them; the stand-in does not).
  std::string id() const { return api_version() + "/" + plural; }
};

const std::vector<Resource>& resources();
const Resource* find_resource(std::string_view group, std::string_view version,
                              std::string_view plural);
const Resource* find_kind(std::string_view api_version, std::string_view kind);

// GET /version, /api, /apis, /api/v1 and /apis/<group>/<version>. `server_address` is
// "127.0.0.1:PORT" (APIVersions.serverAddressByClientCIDRs). A group version the stand-in
// does not serve gives a null json.
json version_document();
json core_versions_document(const std::string& server_address);
json groups_document();
json resource_list_document(std::string_view group, std::string_view version);

// GET /openapi/v3 and /openapi/v3/<api/v1 | apis/group/version>: no schemas, only a PATCH
// operation per kind that declares the fieldValidation query parameter. That is what
// kubectl's QueryParamVerifierV3 looks for to decide that the server validates fields
// itself, so `kubectl create -f` neither downloads /openapi/v2 (which the stand-in does not
// serve: kubectl would fail with "failed to download openapi") nor validates client-side.
// Its patches then fall back to kubectl's built-in scheme (no requestBody declared here).
json openapi_v3_root();
json openapi_v3_document(std::string_view group, std::string_view version);

}  // namespace lintel::standin
