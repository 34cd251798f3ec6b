#include "app/cluster_duties.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "ingress/kube_events.h"
#include "ingress/kube_source.h"
#include "ingress/kube_status.h"

namespace lintel::app {

namespace {

class ClusterDutiesImpl final : public ClusterDuties {
 public:
  ClusterDutiesImpl(ClusterDutiesOptions options, Control& control,
                    ingress::KubeSource& source,
                    std::unique_ptr<ingress::LeaderElector> elector,
                    std::unique_ptr<ingress::StatusWriter> status,
                    std::unique_ptr<ingress::EventRecorder> events)
      : options_(std::move(options)),
        control_(control),
        source_(source),
        elector_(std::move(elector)),
        status_(std::move(status)),
        events_(std::move(events)) {}

  ~ClusterDutiesImpl() override { stop(); }

  void start() override {
    if (status_ && options_.publish_addresses) {
      status_->set_desired(options_.publish_addresses);
    }
    control_.on_compiled([this](const Control::Compiled& compiled) {
      claimed_ = std::set<std::string>(compiled.result.claimed.begin(),
                                       compiled.result.claimed.end());
      if (status_) {
        push_status();
      }
      events_->observe(ingress::event_causes(compiled.state, compiled.result,
                                             compiled.diagnostics, source_.rejected_ingresses(),
                                             options_.compile));
    });
    source_.on_status([this] {
      if (status_) {
        push_status();
      }
    });
    elector_->start([this](bool leading) {
      if (status_) {
        status_->set_leader(leading);
      }
      events_->set_leader(leading);
    });
  }

  void shutdown(std::function<void()> done) override {
    auto release = [this, done = std::move(done)]() mutable {
      events_->stop();
      elector_->release(std::move(done));
    };
    if (status_ && options_.update_status_on_shutdown) {
      status_->clear(std::move(release));
    } else {
      if (status_) {
        status_->stop();
      }
      release();
    }
  }

  void stop() override {
    elector_->stop();
    if (status_) {
      status_->stop();
    }
    events_->stop();
  }

 private:
  void push_status() {
    if (options_.publish_service) {
      status_->set_desired(source_.publish_service_status());
    }
    std::map<std::string, ingress::LoadBalancerStatus> current;
    for (const std::string& key : claimed_) {
      current.emplace(key, source_.ingress_status(key));
    }
    status_->set_ingresses(std::move(current));
  }

  ClusterDutiesOptions options_;
  Control& control_;
  ingress::KubeSource& source_;
  std::unique_ptr<ingress::LeaderElector> elector_;
  std::unique_ptr<ingress::StatusWriter> status_;  // null: no --publish-* flag
  std::unique_ptr<ingress::EventRecorder> events_;
  std::set<std::string> claimed_;
};

}  // namespace

std::unique_ptr<ClusterDuties> ClusterDuties::create(boost::asio::io_context& io,
                                                     ClusterDutiesOptions options,
                                                     Control& control, std::string& error) {
  ingress::KubeSource* source = control.kube_source();
  if (!source) {
    error = "leader election, status and Events need the Kubernetes API source";
    return nullptr;
  }
  options.election.user_agent = options.user_agent;
  auto elector = ingress::LeaderElector::create(io, options.election, error);
  if (!elector) {
    return nullptr;
  }
  std::unique_ptr<ingress::StatusWriter> status;
  if (options.publish_addresses || options.publish_service) {
    ingress::StatusWriterOptions o;
    o.config = options.election.config;
    o.user_agent = options.user_agent;
    status = ingress::StatusWriter::create(io, std::move(o), error);
    if (!status) {
      return nullptr;
    }
  }
  ingress::EventRecorderOptions e;
  e.config = options.election.config;
  e.user_agent = options.user_agent;
  e.reporting_controller = options.compile.controller_name;
  e.reporting_instance = options.election.identity.substr(0, options.election.identity.find('_'));
  auto events = ingress::EventRecorder::create(io, std::move(e), error);
  if (!events) {
    return nullptr;
  }
  return std::make_unique<ClusterDutiesImpl>(std::move(options), control, *source,
                                             std::move(elector), std::move(status),
                                             std::move(events));
}

}  // namespace lintel::app
