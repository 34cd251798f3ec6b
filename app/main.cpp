// lintel: command line, and the wiring of sources → compiler → publish to proxy and admin.
//
//   lintel serve (--manifests DIR | --kubeconfig FILE [--context NAME] | --kube)
//                [--watch-namespace NS] [--watch-ingress-without-class] [--http ADDR] [--https
//                ADDR|off] [--admin ADDR] [--workers N]
//                [--default-cert FILE --default-key FILE] [--session-ticket-key-file FILE]
//                [--ingress-class NAME] [--log-level LEVEL] [--no-access-log] ...
//   lintel check --manifests DIR
//   lintel cert --host H [--host H2 ...] --out DIR [--secret NAME] [--namespace NS] [--days N]
//   lintel version
//
// Threads: the main thread runs the control io_context (manifest watching or the API
// informers, compiling, publishing, admin listener, signals); the proxy runs its own
// worker threads.
//
// Signals (app/drain.h): the first SIGTERM or SIGINT starts the graceful drain — /readyz
// 503 at once, accepting and serving for --shutdown-delay more, then listeners closed,
// idle connections closed and Connection: close on the last responses; exit 0 once every
// connection and shutdown task is done, or when --shutdown-timeout (from the signal)
// passes, cutting what is left. A second signal during the drain exits at once, code 1.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <thread>

#include "admin/admin_server.h"
#include "app/cluster_duties.h"
#include "app/control.h"
#include "app/drain.h"
#include "app/tls_setup.h"
#include "ingress/compiler.h"
#include "ingress/kube_config.h"
#include "ingress/kube_lease.h"
#include "ingress/kube_source.h"
#include "ingress/kube_status.h"
#include "ingress/manifest_source.h"
#include "proxy/address.h"
#include "proxy/server.h"
#include "tls/cert_tool.h"

namespace {

using namespace lintel;

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;  // lintel check: some object was rejected
constexpr int kExitUsage = 2;     // bad flag or unusable configuration
constexpr int kExitFailed = 1;    // lintel serve could not start (e.g. a port in use)

// "500ms", "5s", "2m", or a bare number of milliseconds.
bool parse_duration(const std::string& text, std::chrono::milliseconds& out) {
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return false;
  }
  std::string unit = text.substr(used);
  if (value < 0) {
    return false;
  }
  if (unit.empty() || unit == "ms") {
    out = std::chrono::milliseconds(value);
  } else if (unit == "s") {
    out = std::chrono::seconds(value);
  } else if (unit == "m") {
    out = std::chrono::minutes(value);
  } else {
    return false;
  }
  return true;
}

// A CLI11 validator for durations, so a bad value is reported like any bad flag.
struct DurationValidator : CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](const std::string& text) {
      std::chrono::milliseconds ignored;
      return parse_duration(text, ignored)
                 ? std::string()
                 : "\"" + text + "\" is not a duration (e.g. 500ms, 5s, 2m)";
    };
  }
};

// A CLI11 validator for listener addresses (host:port with an IP literal). With
// `allow_off`, "off" (or "") is accepted too and means "no such listener".
struct AddressValidator : CLI::Validator {
  explicit AddressValidator(bool allow_off = false) {
    name_ = allow_off ? "ADDR|off" : "ADDR";
    func_ = [allow_off](const std::string& text) {
      if (allow_off && (text.empty() || text == "off")) {
        return std::string();
      }
      return proxy::parse_host_port(text)
                 ? std::string()
                 : "\"" + text + "\" is not host:port or [v6]:port with an IP literal";
    };
  }
};

struct CommonOptions {
  std::string manifests;
  std::string ingress_class = "lintel";
  std::string controller_name = "lintel.dev/ingress-controller";
  std::string log_level = "info";
};

struct ServeOptions {
  std::string http = "0.0.0.0:8080";
  std::string https = "0.0.0.0:8443";
  std::string admin = "127.0.0.1:9000";
  int workers = 0;  // 0 = number of cores
  bool no_access_log = false;
  std::string header_timeout = "10s";
  std::string idle_timeout = "60s";
  std::string connect_timeout = "5s";
  std::string response_timeout = "60s";
  std::string reload_coalesce = "100ms";
  std::string default_cert;
  std::string default_key;
  std::vector<std::string> ticket_key_files;
  std::string handshake_timeout = "10s";
  int https_redirect_port = 443;
  bool hsts = true;
  // The Kubernetes API source (instead of --manifests).
  bool kube = false;
  std::string kubeconfig;
  std::string context;
  std::string watch_namespace;
  bool watch_ingress_without_class = false;
  std::string api_backoff_base = "800ms";
  std::string api_backoff_max = "30s";
  // In the cluster (app/cluster_duties.h): status, leader election.
  std::string publish_service;         // NS/NAME
  std::string publish_status_address;  // ADDR[,ADDR]
  bool update_status_on_shutdown = false;
  std::string election_id = "lintel-leader";
  std::string election_namespace;  // default: $POD_NAMESPACE, the in-cluster namespace, the
                                   // kubeconfig context's, "default"
  std::string election_identity;   // default: $POD_NAME or the host name, "_", random hex
  std::string election_lease_duration = "15s";
  std::string election_renew_deadline = "10s";
  std::string election_retry_period = "2s";
  // Graceful drain (app/drain.h).
  std::string shutdown_delay = "5s";
  std::string shutdown_timeout = "30s";
};

struct CertOptions {
  std::vector<std::string> hosts;
  std::string out;
  std::string secret;
  std::string name_space = "default";
  int days = tls::kDefaultCertificateDays;
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("lintel");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

ingress::CompileOptions compile_options(const CommonOptions& common) {
  ingress::CompileOptions options;
  options.ingress_class = common.ingress_class;
  options.controller_name = common.controller_name;
  options.watch_ingress_without_class = true;  // files mode: Ingresses without a class are ours
  return options;
}

int run_check(const CommonOptions& common) {
  std::string error;
  auto source = ingress::ManifestSource::create(common.manifests, error);
  if (!source) {
    std::fprintf(stderr, "lintel check: %s\n", error.c_str());
    return kExitUsage;
  }
  ingress::ManifestLoad load = source->load();
  ingress::CompileOptions options = compile_options(common);
  // The same certificate checks as serve: a generated default certificate (a few ms) lets
  // the compiler build real contexts, so a Secret OpenSSL would refuse is reported here.
  options.now = std::chrono::system_clock::now();
  auto tls_setup = app::make_tls_setup({}, options.now);
  if (tls_setup) {
    options.default_context = tls_setup->default_context;
  } else {
    std::fprintf(stderr, "lintel check: %s; certificates are checked without one\n",
                 tls_setup.error().message.c_str());
  }
  ingress::CompileResult result = ingress::compile(load.state, options);
  std::fputs(ingress::format_route_table(*result.routes).c_str(), stdout);
  std::fputs("\n", stdout);
  // Not the default certificate: check's is generated for this run only.
  std::fputs(app::format_certificates(*result.certs, false).c_str(), stdout);

  std::vector<routing::Diagnostic> diagnostics = std::move(load.diagnostics);
  diagnostics.insert(diagnostics.end(), result.diagnostics.begin(), result.diagnostics.end());
  size_t rejected = 0;
  size_t warnings = 0;
  if (!diagnostics.empty()) {
    std::fputs("\ndiagnostics:\n", stdout);
  }
  for (const routing::Diagnostic& d : diagnostics) {
    const char* label = d.rejected                                            ? "rejected"
                        : d.severity == routing::Diagnostic::Severity::kError ? "error"
                                                                              : "warning";
    std::fprintf(stdout, "  %s: %s\n", label, d.to_string().c_str());
    if (d.rejected) {
      ++rejected;
    } else {
      ++warnings;
    }
  }
  std::fprintf(stdout,
               "\n%zu files, %zu objects, %zu ingresses, %zu hosts, %zu routes, %zu TLS hosts; "
               "%zu rejected, %zu warnings\n",
               load.files, load.state.size(), result.stats.ingresses, result.stats.hosts,
               result.stats.routes, result.certs->hosts().size(), rejected, warnings);
  return rejected > 0 ? kExitRejected : kExitOk;
}

// `lintel cert`: a local CA (reused from DIR), a leaf for the hosts, a Secret manifest.
int run_cert(const CertOptions& cert) {
  tls::CertBundleRequest request;
  request.hosts = cert.hosts;
  request.out_dir = cert.out;
  request.secret_name = cert.secret;
  request.secret_namespace = cert.name_space;
  request.days = cert.days;
  auto bundle = tls::write_cert_bundle(request, std::chrono::system_clock::now());
  if (!bundle) {
    std::fprintf(stderr, "lintel cert: %s\n", bundle.error().message.c_str());
    return kExitUsage;
  }
  const tls::CertBundle& b = *bundle;
  std::string hosts;
  std::string quoted;  // YAML: a bare "*.example.com" would read as an alias
  for (const std::string& host : cert.hosts) {
    hosts += (hosts.empty() ? "" : ", ") + host;
    quoted += (quoted.empty() ? "\"" : ", \"") + host + "\"";
  }
  const size_t width = std::max(
      {b.ca_cert_path.size(), b.cert_path.size(), b.key_path.size(), b.secret_path.size()});
  auto line = [&](const char* verb, const std::string& path, const std::string& what) {
    std::printf("%-6s %-*s  %s\n", verb, static_cast<int>(width), path.c_str(), what.c_str());
  };
  line(b.ca_reused ? "reused" : "wrote", b.ca_cert_path,
       b.ca_reused ? "the local CA already in the folder"
                   : fmt::format("a new local CA (its key, {}, stays private)", b.ca_key_path));
  line("wrote", b.cert_path,
       fmt::format("certificate for {}, expires {}", hosts, tls::format_time(b.not_after)));
  line("wrote", b.key_path, "its private key");
  line("wrote", b.secret_path,
       fmt::format("Secret {}/{} (kubernetes.io/tls)", cert.name_space, b.secret_name));
  std::printf("SHA-256 fingerprint: %s\n\n", b.fingerprint_sha256.c_str());

  // A wildcard host cannot be typed into curl; any one label under it will do.
  std::string host = cert.hosts.front();
  if (host.starts_with("*.")) {
    host = "www" + host.substr(1);
  }
  std::printf(
      "Put %s into the manifests folder and add to the Ingress (namespace %s):\n\n"
      "  tls:\n"
      "    - hosts: [%s]\n"
      "      secretName: %s\n\n"
      "Then, with Lintel serving HTTPS on 127.0.0.1:8443:\n\n"
      "  curl --cacert %s --resolve %s:8443:127.0.0.1 https://%s:8443/\n",
      b.secret_path.c_str(), cert.name_space.c_str(), quoted.c_str(), b.secret_name.c_str(),
      b.ca_cert_path.c_str(), host.c_str(), host.c_str());
  return kExitOk;
}

// Leader election, status and Events (API source only).
app::ClusterDutiesOptions cluster_duties_options(const ServeOptions& serve,
                                                 const CommonOptions& common,
                                                 const ingress::KubeSourceOptions& kube) {
  app::ClusterDutiesOptions o;
  o.election.config = kube.config;
  o.election.name = serve.election_id;
  o.election.namespace_ = serve.election_namespace;
  const char* pod_namespace = std::getenv("POD_NAMESPACE");
  if (o.election.namespace_.empty() && pod_namespace && *pod_namespace) {
    o.election.namespace_ = pod_namespace;
  }
  if (o.election.namespace_.empty()) {
    o.election.namespace_ = kube.config.namespace_.empty() ? "default" : kube.config.namespace_;
  }
  o.election.identity = serve.election_identity;
  if (o.election.identity.empty()) {
    const char* pod_name = std::getenv("POD_NAME");
    std::string host = pod_name && *pod_name ? pod_name : std::string();
    if (host.empty()) {
      char buffer[256] = {};
      ::gethostname(buffer, sizeof buffer - 1);
      host = buffer[0] ? buffer : "lintel";
    }
    std::random_device random;
    o.election.identity = fmt::format("{}_{:08x}{:08x}", host, random(), random());
  }
  parse_duration(serve.election_lease_duration, o.election.lease_duration);
  parse_duration(serve.election_renew_deadline, o.election.renew_deadline);
  parse_duration(serve.election_retry_period, o.election.retry_period);
  if (!serve.publish_status_address.empty()) {
    std::string error;
    o.publish_addresses = ingress::parse_status_addresses(serve.publish_status_address, error);
  }
  o.publish_service = !serve.publish_service.empty();
  o.update_status_on_shutdown = serve.update_status_on_shutdown;
  o.compile = compile_options(common);
  o.compile.watch_ingress_without_class = serve.watch_ingress_without_class;
  o.user_agent = kube.user_agent;
  return o;
}

// The API source's options from --kube / --kubeconfig, or an error line (exit 2).
std::optional<ingress::KubeSourceOptions> kube_options(const ServeOptions& serve,
                                                       std::string& error) {
  auto config = serve.kube ? ingress::load_in_cluster_config()
                           : ingress::load_kubeconfig(serve.kubeconfig, serve.context);
  if (!config) {
    error = config.error().message;
    return std::nullopt;
  }
  ingress::KubeSourceOptions options;
  options.config = std::move(*config);
  options.watch_namespace = serve.watch_namespace;
  parse_duration(serve.api_backoff_base, options.backoff.base);
  parse_duration(serve.api_backoff_max, options.backoff.cap);
  options.backoff.base = std::max(options.backoff.base, std::chrono::milliseconds(1));
  options.backoff.cap = std::max(options.backoff.cap, options.backoff.base);
  options.user_agent = std::string("lintel/") + LINTEL_VERSION;
  options.publish_service = serve.publish_service;
  if (options.config.insecure_skip_tls_verify) {
    spdlog::warn(
        "{}: insecure-skip-tls-verify is set: the API server's certificate is NOT "
        "verified, so anyone on the path can feed Lintel its routes",
        options.config.description);
  }
  return options;
}

int run_serve(const CommonOptions& common, const ServeOptions& serve) {
  const int sources = !common.manifests.empty() + serve.kube + !serve.kubeconfig.empty();
  if (sources != 1) {
    std::fprintf(stderr,
                 "lintel serve: give exactly one source: --manifests DIR, --kubeconfig FILE or "
                 "--kube (see 'lintel serve --help')\n");
    return kExitUsage;
  }
  if (!serve.context.empty() && serve.kubeconfig.empty()) {
    std::fprintf(stderr, "lintel serve: --context needs --kubeconfig\n");
    return kExitUsage;
  }
  std::chrono::milliseconds shutdown_delay{};
  std::chrono::milliseconds shutdown_timeout{};
  parse_duration(serve.shutdown_delay, shutdown_delay);
  parse_duration(serve.shutdown_timeout, shutdown_timeout);
  if (shutdown_timeout <= shutdown_delay) {  // so the timeout is > 0 too
    std::fprintf(stderr,
                 "lintel serve: --shutdown-timeout (%s) must be longer than --shutdown-delay "
                 "(%s)\n",
                 serve.shutdown_timeout.c_str(), serve.shutdown_delay.c_str());
    return kExitUsage;
  }
  if (!serve.watch_namespace.empty() && !common.manifests.empty()) {
    // A folder is read whole; silently ignoring the flag would hide a mistake.
    std::fprintf(stderr, "lintel serve: --watch-namespace needs --kubeconfig or --kube\n");
    return kExitUsage;
  }
  const bool cluster_flags = !serve.publish_service.empty() ||
                             !serve.publish_status_address.empty() ||
                             serve.update_status_on_shutdown;
  if (cluster_flags && !common.manifests.empty()) {
    std::fprintf(stderr,
                 "lintel serve: --publish-service, --publish-status-address and "
                 "--update-status-on-shutdown need --kubeconfig or --kube\n");
    return kExitUsage;
  }
  if (!serve.publish_service.empty() && !serve.publish_status_address.empty()) {
    std::fprintf(stderr,
                 "lintel serve: --publish-service and --publish-status-address exclude each "
                 "other\n");
    return kExitUsage;
  }
  if (const std::string& p = serve.publish_service;
      !p.empty() && (p.find('/') == std::string::npos || p.front() == '/' || p.back() == '/' ||
                     p.find('/') != p.rfind('/'))) {
    std::fprintf(stderr, "lintel serve: --publish-service \"%s\": expected NAMESPACE/NAME\n",
                 p.c_str());
    return kExitUsage;
  }
  if (!serve.publish_status_address.empty()) {
    std::string error;
    if (!ingress::parse_status_addresses(serve.publish_status_address, error)) {
      std::fprintf(stderr, "lintel serve: --publish-status-address: %s\n", error.c_str());
      return kExitUsage;
    }
  }
  {
    ingress::LeaderElectionOptions timing;
    parse_duration(serve.election_lease_duration, timing.lease_duration);
    parse_duration(serve.election_renew_deadline, timing.renew_deadline);
    parse_duration(serve.election_retry_period, timing.retry_period);
    if (const std::string problem = ingress::check_timing(timing); !problem.empty()) {
      std::fprintf(stderr,
                   "lintel serve: --election-retry-period, --election-renew-deadline, "
                   "--election-lease-duration: %s\n",
                   problem.c_str());
      return kExitUsage;
    }
  }
  std::optional<ingress::KubeSourceOptions> kube;
  if (common.manifests.empty()) {
    std::string error;
    kube = kube_options(serve, error);
    if (!kube) {
      std::fprintf(stderr, "lintel serve: %s\n", error.c_str());
      return kExitUsage;
    }
  }
  proxy::ProxyOptions proxy_options;
  proxy_options.http_address = serve.http;
  proxy_options.workers =
      serve.workers > 0 ? serve.workers : std::max(1u, std::thread::hardware_concurrency());
  proxy_options.access_log = !serve.no_access_log;
  parse_duration(serve.header_timeout, proxy_options.header_timeout);
  parse_duration(serve.idle_timeout, proxy_options.idle_timeout);
  parse_duration(serve.connect_timeout, proxy_options.connect_timeout);
  parse_duration(serve.response_timeout, proxy_options.response_timeout);
  proxy_options.https_address = serve.https == "off" ? std::string() : serve.https;
  parse_duration(serve.handshake_timeout, proxy_options.handshake_timeout);
  proxy_options.https_redirect_port = static_cast<uint16_t>(serve.https_redirect_port);
  proxy_options.hsts = serve.hsts;

  // One ticket ring and one default certificate for the whole process: every snapshot's
  // CertStore is built on this default context (so tickets survive a snapshot swap and
  // SNI switches). Built even with --https off: the compiler then still checks Secrets
  // the way it would with HTTPS, and reuses their parsed contexts between compiles.
  app::TlsSetupOptions tls_options;
  tls_options.default_cert = serve.default_cert;
  tls_options.default_key = serve.default_key;
  tls_options.ticket_key_files = serve.ticket_key_files;
  auto tls_setup = app::make_tls_setup(tls_options, std::chrono::system_clock::now());
  if (!tls_setup) {
    spdlog::critical("{}; exiting", tls_setup.error().message);
    return kExitUsage;
  }
  spdlog::info("default certificate ({}): {}",
               tls_setup->generated_default ? "generated, self-signed" : serve.default_cert,
               tls_setup->default_context->certificate().describe());
  spdlog::info("session tickets: {}",
               serve.ticket_key_files.empty()
                   ? std::string("random keys, rotated hourly (not shared between replicas)")
                   : fmt::format("keys from {}", fmt::join(serve.ticket_key_files, ", ")));

  app::ControlOptions control_options;
  control_options.manifests = common.manifests;
  control_options.kube = std::move(kube);
  control_options.compile = compile_options(common);
  if (control_options.kube) {
    // In a cluster, an Ingress without a class may belong to another controller: ours
    // only when our IngressClass is the default one, or when the operator says so.
    control_options.compile.watch_ingress_without_class = serve.watch_ingress_without_class;
  }
  control_options.compile.default_context = tls_setup->default_context;
  parse_duration(serve.reload_coalesce, control_options.coalesce_window);

  boost::asio::io_context io;
  std::string error;
  auto control = app::Control::create(io, control_options, error);
  if (!control) {
    spdlog::critical("{}; exiting", error);
    return kExitUsage;
  }
  auto server = proxy::Server::create(proxy_options, error);
  if (!server) {
    spdlog::critical("{}; exiting", error);
    return kExitFailed;
  }
  auto admin = admin::AdminServer::create(io, serve.admin, error);
  if (!admin) {
    spdlog::critical("{}; exiting", error);
    return kExitFailed;
  }
  auto tickets = app::TicketKeyTimer::create(io, tls_setup->tickets, serve.ticket_key_files);
  std::unique_ptr<app::ClusterDuties> duties;
  if (control_options.kube) {
    duties = app::ClusterDuties::create(io, cluster_duties_options(serve, common, *control_options.kube),
                                        *control, error);
    if (!duties) {
      spdlog::critical("{}; exiting", error);
      return kExitUsage;
    }
    duties->start();
  }
  control->on_snapshot([&](const proxy::SnapshotPtr& snapshot) {
    server->publish(snapshot);
    admin->publish(snapshot);
  });
  // The first snapshot is compiled before any listener accepts, so readiness never
  // reports a process with no routes.
  control->start();
  server->start();
  admin->start();
  tickets->start();
  const std::string https = server->https_address();
  const std::string summary = control->summary();
  spdlog::info("lintel {} serving: http={} https={} admin={} workers={} source: {} ({})",
               LINTEL_VERSION, server->http_address(), https.empty() ? "off" : https,
               admin->address(), proxy_options.workers, control->source(),
               summary.empty() ? "not ready until every kind has been listed" : summary);

  // The routes keep being updated while draining: everything stops at the drain's end.
  app::DrainOptions drain_options;
  drain_options.delay = shutdown_delay;
  drain_options.timeout = shutdown_timeout;
  auto drain = app::Drain::create(io, drain_options, *server, *admin, [&] {
    if (duties) {
      duties->stop();
    }
    control->stop();
    tickets->stop();
    admin->stop();
    server->stop();
    io.stop();
  });
  if (duties) {
    drain->add_shutdown_task([&](std::function<void()> done) { duties->shutdown(std::move(done)); });
  }
  drain->start();
  io.run();
  spdlog::info("stopped");
  return drain->exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Lintel: a Kubernetes Ingress controller and L7 load balancer", "lintel"};
  cli.require_subcommand(1);
  CommonOptions common;
  ServeOptions serve;
  CertOptions cert;
  DurationValidator duration;
  AddressValidator address;
  AddressValidator address_or_off(true);

  auto add_common = [&](CLI::App* sub, bool manifests_required) {
    CLI::Option* manifests =
        sub->add_option("--manifests", common.manifests,
                        "Folder of Kubernetes manifests (*.yaml, *.yml, *.json, recursively)")
            ->check(CLI::ExistingDirectory);
    if (manifests_required) {
      manifests->required();
    }
    sub->add_option("--ingress-class", common.ingress_class, "IngressClass name Lintel serves")
        ->capture_default_str();
    sub->add_option("--controller-name", common.controller_name,
                    "spec.controller of Lintel's IngressClass")
        ->capture_default_str();
    sub->add_option("--log-level", common.log_level, "trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
  };

  CLI::App* serve_cmd = cli.add_subcommand(
      "serve", "Route the Ingresses of a manifests folder or of a Kubernetes API server");
  add_common(serve_cmd, false);
  serve_cmd->add_option("--kubeconfig", serve.kubeconfig,
                        "Watch the API server of this kubeconfig instead of a folder");
  serve_cmd->add_option("--context", serve.context,
                        "Kubeconfig context (default: its current-context)");
  serve_cmd->add_flag("--kube", serve.kube,
                      "Watch the API server of the cluster Lintel runs in (service account)");
  serve_cmd->add_option("--watch-namespace", serve.watch_namespace,
                        "API source: watch Ingresses, Services, EndpointSlices and Secrets in "
                        "this namespace only (default: all)");
  serve_cmd->add_flag("--watch-ingress-without-class", serve.watch_ingress_without_class,
                      "API source: also serve Ingresses that name no class (otherwise only when "
                      "our IngressClass is the default one)");
  serve_cmd
      ->add_option("--api-backoff-base", serve.api_backoff_base,
                   "API source: first retry delay after a failed list or watch (doubles)")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--api-backoff-max", serve.api_backoff_max, "API source: longest retry delay")
      ->check(duration)
      ->capture_default_str();
  serve_cmd->add_option("--publish-service", serve.publish_service,
                        "API source: NAMESPACE/NAME of the LoadBalancer Service whose "
                        "status.loadBalancer Lintel copies to its Ingresses' status");
  serve_cmd->add_option("--publish-status-address", serve.publish_status_address,
                        "API source: ADDR[,ADDR] (IPs or host names) written to the status of "
                        "Lintel's Ingresses");
  serve_cmd->add_flag("--update-status-on-shutdown", serve.update_status_on_shutdown,
                      "API source: the leader clears its Ingresses' addresses on a deliberate "
                      "shutdown (SIGTERM/SIGINT)");
  serve_cmd
      ->add_option("--election-id", serve.election_id,
                   "API source: name of the Lease the replicas elect their leader with")
      ->capture_default_str();
  serve_cmd->add_option("--election-namespace", serve.election_namespace,
                        "API source: namespace of the Lease (default: $POD_NAMESPACE, the "
                        "service account's namespace, the kubeconfig context's, default)");
  serve_cmd->add_option("--election-identity", serve.election_identity,
                        "API source: this replica's name in the Lease (default: $POD_NAME or "
                        "the host name, '_', random hex)");
  serve_cmd
      ->add_option("--election-lease-duration", serve.election_lease_duration,
                   "API source: how long a leader's lease lasts without renewal")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--election-renew-deadline", serve.election_renew_deadline,
                   "API source: a leader that could not renew for this long stops writing")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--election-retry-period", serve.election_retry_period,
                   "API source: how often to try to take or renew the lease")
      ->check(duration)
      ->capture_default_str();
  serve_cmd->add_option("--http", serve.http, "HTTP listener host:port")
      ->check(address)
      ->capture_default_str();
  serve_cmd->add_option("--https", serve.https, "HTTPS listener host:port, or off")
      ->check(address_or_off)
      ->capture_default_str();
  serve_cmd
      ->add_option("--admin", serve.admin, "Admin listener host:port (/healthz, /readyz, /routes)")
      ->check(address)
      ->capture_default_str();
  serve_cmd->add_option("--workers", serve.workers, "Worker threads (default: number of cores)")
      ->check(CLI::Range(1, 256));
  serve_cmd->add_flag("--no-access-log", serve.no_access_log, "Do not write the access log");
  serve_cmd
      ->add_option("--client-header-timeout", serve.header_timeout,
                   "Deadline for a request's whole header block")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--keepalive-timeout", serve.idle_timeout,
                   "Idle time allowed between requests on a client connection")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--upstream-connect-timeout", serve.connect_timeout,
                   "Deadline for connecting to an endpoint")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--upstream-response-timeout", serve.response_timeout,
                   "Deadline for the upstream's response (and between body reads)")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--reload-coalesce", serve.reload_coalesce,
                   "Changes within this window after a recompile are folded into one")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--default-cert", serve.default_cert,
                   "Certificate (PEM chain) for handshakes no Ingress certificate matches "
                   "(default: self-signed, generated at start)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--default-key", serve.default_key, "Private key (PEM) of --default-cert")
      ->check(CLI::ExistingFile);
  serve_cmd
      ->add_option("--session-ticket-key-file", serve.ticket_key_files,
                   "Session ticket key (80 or 48 random bytes, nginx format), shared by every "
                   "replica; repeatable: the first encrypts, the others only decrypt "
                   "(default: random keys rotated hourly)")
      ->check(CLI::ExistingFile);
  serve_cmd
      ->add_option("--handshake-timeout", serve.handshake_timeout, "Deadline for a TLS handshake")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--https-redirect-port", serve.https_redirect_port,
                   "Port written into the 308 redirects to https:// (the public HTTPS port)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  serve_cmd
      ->add_option("--shutdown-delay", serve.shutdown_delay,
                   "After SIGTERM: /readyz answers 503 at once, and Lintel keeps accepting and "
                   "serving this long (for the load balancer to deregister it; 0: stop at once)")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_option("--shutdown-timeout", serve.shutdown_timeout,
                   "After SIGTERM: exit at the latest this long after the signal, closing the "
                   "connections still open (longer than --shutdown-delay)")
      ->check(duration)
      ->capture_default_str();
  serve_cmd
      ->add_flag("--hsts,!--no-hsts", serve.hsts,
                 "Strict-Transport-Security on HTTPS responses of TLS hosts (--hsts=false: off)")
      ->capture_default_str();

  CLI::App* check_cmd =
      cli.add_subcommand("check",
                         "Print the routing table and every diagnostic; exit 1 if any "
                         "object was rejected");
  add_common(check_cmd, true);

  CLI::App* cert_cmd = cli.add_subcommand(
      "cert", "Write a local CA, a certificate for the hosts and a kubernetes.io/tls Secret");
  cert_cmd
      ->add_option("--host", cert.hosts,
                   "Host the certificate is for (repeatable; *.example.com allowed)")
      ->required();
  cert_cmd
      ->add_option("--out", cert.out,
                   "Folder for ca.crt, the certificate, key and Secret "
                   "(created; an existing CA in it is reused)")
      ->required();
  cert_cmd->add_option("--secret", cert.secret,
                       "Secret name (default: from the first host, a.example.com → "
                       "a-example-com-tls)");
  cert_cmd->add_option("--namespace", cert.name_space, "Namespace of the Secret")
      ->capture_default_str();
  cert_cmd->add_option("--days", cert.days, "Validity of the certificate in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  cli.add_subcommand("version", "Print the version");

  // CLI11 would call an unknown command "a missing subcommand"; say what it is.
  if (argc > 1 && argv[1][0] != '-') {
    std::string_view command = argv[1];
    if (command != "serve" && command != "check" && command != "cert" && command != "version") {
      std::fprintf(stderr,
                   "lintel: unknown command \"%s\" (expected serve, check, cert or version; see "
                   "'lintel --help')\n",
                   argv[1]);
      return kExitUsage;
    }
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line, not a usage dump.
    std::string where = "lintel";
    for (CLI::App* sub : cli.get_subcommands()) {
      where += " " + sub->get_name();
    }
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", where.c_str(), e.what(), where.c_str());
    return kExitUsage;
  }

  if (cli.got_subcommand("version")) {
    std::printf("lintel %s\n", LINTEL_VERSION);
    return kExitOk;
  }
  if (cli.got_subcommand("cert")) {
    return run_cert(cert);
  }
  setup_logging(common.log_level);
  if (cli.got_subcommand("check")) {
    return run_check(common);
  }
  if (serve.kube && serve_cmd->count("--admin") == 0) {
    // In a cluster the kubelet probes /healthz and /readyz on the Pod IP: loopback would
    // make every probe fail (DESIGN.md: admin on the pod IP in-cluster).
    serve.admin = "0.0.0.0:9000";
  }
  return run_serve(common, serve);
}
