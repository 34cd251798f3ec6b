#pragma once
// The kinds the stand-in API server serves, and the discovery documents kubectl reads to
// map a manifest's apiVersion/kind to a URL (/api, /api/v1, /apis, /apis/<group>/<version>).
//
// Thread: immutable tables; any thread.

#include <nlohmann/json.hpp>
#include <optional>
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
  // Identity in the store and in state.json. events.k8s.io/v1 Events are not stored under
  // their own id: see storage_of().
  std::string id() const { return api_version() + "/" + plural; }
  bool is_events_v1() const { return group == "events.k8s.io" && kind == "Event"; }
};

const std::vector<Resource>& resources();
const Resource* find_resource(std::string_view group, std::string_view version,
                              std::string_view plural);
const Resource* find_kind(std::string_view api_version, std::string_view kind);

// ---- one object, two shapes
// The resource whose store holds `served`'s objects. core/v1 and events.k8s.io/v1 Events are
// one set of objects on the real server (stored in the internal, core-like shape, converted
// per request version); here both live in the core v1 store, in core v1 shape (a lossless
// superset). Every other resource is its own storage.
const Resource& storage_of(const Resource& served);
// Stored shape → `served`'s shape, and back. Identity for a resource that is its own
// storage. The Event mapping is that of k8s.io/kubernetes pkg/apis/events/v1 conversion.go:
// regarding↔involvedObject, note↔message, reportingController↔reportingComponent,
// deprecatedSource↔source, deprecatedFirstTimestamp/LastTimestamp↔firstTimestamp/
// lastTimestamp, deprecatedCount↔count; eventTime, series, type, reason, action, related,
// reportingInstance keep their names.
json to_served(const Resource& served, json stored);
json to_stored(const Resource& served, json object);
// A field selector label of `served` → the JSON path it reads in the stored shape
// (events.k8s.io's regarding.name → involvedObject.name, core's source → source.component:
// the real server's field label conversions). "" when `served` has no such label.
std::string stored_field(const Resource& served, const std::string& label);

// ---- times
// metav1.MicroTime ("2006-01-02T15:04:05.000000Z07:00" on input, any RFC 3339 with or
// without a fraction) → the UTC form the real server writes back, always six digits:
// "2006-01-02T15:04:05.000000Z". nullopt when it does not parse (the real server: 400).
std::optional<std::string> normalize_micro_time(std::string_view text);
// Seconds since the epoch of an RFC 3339 time (nullopt: empty or unparsable).
std::optional<double> parse_time(std::string_view text);
// k8s.io/apimachinery/pkg/util/duration.HumanDuration: "5s", "3m20s", "2d4h", ...
std::string human_duration(double seconds);

// ---- kubectl get (Accept: application/json;as=Table;g=meta.k8s.io;v=v1)
// Whether the stand-in renders `served` as a meta.k8s.io/v1 Table (the columns of the real
// server's printers, pkg/printers/internalversion, generated "wide" as the server does:
// priority-1 columns are sent, kubectl shows them with -o wide). Other kinds are answered
// as plain JSON, which kubectl prints as NAME/AGE.
bool has_table(const Resource& served);
// A list (kind ...List, items in `served` shape) or one object → Table. `include_object`:
// "None", "Metadata" (the default) or "Object", as the includeObject query parameter.
json to_table(const Resource& served, const json& list_or_object,
              const std::string& include_object);

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
