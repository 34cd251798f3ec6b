#include "ingress/manifest_source.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>

#include "ingress/decode.h"

namespace lintel::ingress {

namespace fs = std::filesystem;

namespace {

// A manifest larger than this is refused rather than read whole: a folder of manifests is
// configuration, and a multi-gigabyte file there is a mistake (or a log) we must not load.
constexpr off_t kMaxFileBytes = off_t{16} << 20;
// Directory nesting we follow; deeper trees are reported, not walked.
constexpr int kMaxDirDepth = 32;

// inotify events that may change what load() sees. IN_MODIFY is left out on purpose: it
// fires on every write() while a file is being written, and IN_CLOSE_WRITE follows once the
// writer is done. IN_CREATE is kept for symlinks and hard links, which have no close.
constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Hidden entries (.git, .app.yaml.swp, Kubernetes' ..data) and editor leftovers (emacs
// "#app.yaml#", backups "app.yaml~") are never manifests.
bool is_ignored_name(std::string_view name) {
  return name.empty() || name.front() == '.' || name.front() == '#' || name.back() == '~';
}

bool is_manifest_name(std::string_view name) {
  return !is_ignored_name(name) &&
         (ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json"));
}

struct ReadResult {
  bool ok = false;
  std::string content;
  std::string error;
};

ReadResult read_file(const fs::path& path) {
  ReadResult out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = std::strerror(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    out.error = std::strerror(errno);
    ::close(fd);
    return out;
  }
  if (st.st_size > kMaxFileBytes) {
    out.error = "file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
    ::close(fd);
    return out;
  }
  out.content.reserve(static_cast<size_t>(st.st_size));
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      out.error = std::strerror(errno);
      ::close(fd);
      return out;
    }
    if (n == 0) {
      break;
    }
    out.content.append(buffer, static_cast<size_t>(n));
    if (out.content.size() > static_cast<size_t>(kMaxFileBytes)) {
      out.error = "file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
      ::close(fd);
      return out;
    }
  }
  ::close(fd);
  out.ok = true;
  return out;
}

routing::Diagnostic file_diagnostic(const fs::path& path, std::string message) {
  routing::Diagnostic diag;
  diag.object = path.string();
  diag.message = std::move(message);
  diag.rejected = true;
  diag.reason = "FileNotRead";
  return diag;
}

struct Scan {
  std::vector<fs::path> files;       // manifests, sorted
  std::vector<fs::path> dirs;        // directories walked (watch candidates)
  std::vector<fs::path> unreadable;  // directories whose content is unknown this time
  std::vector<routing::Diagnostic> diagnostics;
};

void walk(const fs::path& dir, int depth, Scan& scan) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    scan.unreadable.push_back(dir);
    scan.diagnostics.push_back(file_diagnostic(
        dir, "cannot read directory: " + ec.message() + "; keeping the last good content"));
    return;
  }
  scan.dirs.push_back(dir);
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (is_ignored_name(name)) {
      continue;
    }
    std::error_code type_ec;
    // Symlinked directories are not followed (a link to an ancestor would loop);
    // symlinked files are, which is how a ConfigMap volume presents its keys.
    if (entry.is_directory(type_ec) && !entry.is_symlink(type_ec)) {
      if (depth + 1 > kMaxDirDepth) {
        scan.diagnostics.push_back(file_diagnostic(
            entry.path(),
            "directory nested deeper than " + std::to_string(kMaxDirDepth) + " levels; not read"));
        continue;
      }
      walk(entry.path(), depth + 1, scan);
    } else if (is_manifest_name(name) && entry.is_regular_file(type_ec)) {
      scan.files.push_back(entry.path());
    }
  }
  if (ec) {
    scan.unreadable.push_back(dir);
    scan.diagnostics.push_back(file_diagnostic(
        dir, "cannot list directory: " + ec.message() + "; keeping the last good content"));
  }
}

bool is_under(const fs::path& path, const fs::path& dir) {
  auto [dir_end, path_it] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return dir_end == dir.end();
}

std::string where_of(const Origin& origin) {
  return origin.line > 0 ? origin.file + ":" + std::to_string(origin.line) : origin.file;
}

}  // namespace

// What is known about one manifest file.
struct ManifestSource::FileEntry {
  // The bytes read last time (good or not): a file is decoded again only when they change.
  // Comparing content rather than mtime/size is deliberate: mtime has the kernel's tick
  // granularity, so two quick same-size writes (`sed -i s/80/81/`) could look unchanged.
  std::string content;
  bool read_once = false;
  // The objects of the last content that parsed, and that content's per-object errors.
  bool has_good = false;
  std::vector<Object> objects;
  std::vector<routing::Diagnostic> errors;
  // Set while the current content cannot be used (syntax error, unreadable).
  std::optional<routing::Diagnostic> problem;
};

ManifestSource::ManifestSource(fs::path dir) : dir_(std::move(dir)) {}

ManifestSource::~ManifestSource() {
  if (inotify_fd_ >= 0) {
    ::close(inotify_fd_);
  }
}

std::unique_ptr<ManifestSource> ManifestSource::create(const fs::path& dir, std::string& error) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    error = dir.string() + ": " + (ec ? ec.message() : std::string("not a directory"));
    return nullptr;
  }
  fs::directory_iterator probe(dir, ec);
  if (ec) {
    error = dir.string() + ": " + ec.message();
    return nullptr;
  }
  return std::unique_ptr<ManifestSource>(new ManifestSource(dir));
}

int ManifestSource::watch(std::string& error) {
  if (inotify_fd_ >= 0) {
    return inotify_fd_;
  }
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    error = std::string("inotify_init1: ") + std::strerror(errno);
    return -1;
  }
  int wd = ::inotify_add_watch(inotify_fd_, dir_.c_str(), kWatchMask);
  if (wd < 0) {
    error = "inotify_add_watch " + dir_.string() + ": " + std::strerror(errno);
    ::close(inotify_fd_);
    inotify_fd_ = -1;
    return -1;
  }
  watches_[wd] = dir_;
  add_watch_recursive(dir_);
  return inotify_fd_;
}

void ManifestSource::add_watch_recursive(const fs::path& dir) {
  if (inotify_fd_ < 0) {
    return;
  }
  Scan scan;
  walk(dir, 0, scan);
  for (const fs::path& d : scan.dirs) {
    // Adding a watch on an inode already watched returns its descriptor again, so this is
    // idempotent; it also refreshes the path of a directory that was moved.
    int wd = ::inotify_add_watch(inotify_fd_, d.c_str(), kWatchMask);
    if (wd >= 0) {
      watches_[wd] = d;
    }
    // A failure (the directory vanished, or the inotify watch limit) is not fatal: load()
    // still sees the files; only events from that directory are missed.
  }
}

bool ManifestSource::drain_events() {
  if (inotify_fd_ < 0) {
    return false;
  }
  bool reload = false;
  bool overflow = false;
  alignas(alignof(struct inotify_event)) char buffer[16384];
  while (true) {
    ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // EAGAIN: drained
    }
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + event->len;
      const std::string_view name = event->len > 0 ? std::string_view(event->name) : "";
      if (event->mask & IN_Q_OVERFLOW) {
        overflow = true;
        reload = true;
        continue;
      }
      if (event->mask & IN_IGNORED) {
        watches_.erase(event->wd);
        reload = true;
        continue;
      }
      if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        reload = true;
        continue;
      }
      if (event->mask & IN_ISDIR) {
        if (is_ignored_name(name)) {
          continue;
        }
        reload = true;
        if (event->mask & (IN_CREATE | IN_MOVED_TO)) {
          if (auto it = watches_.find(event->wd); it != watches_.end()) {
            add_watch_recursive(it->second / std::string(name));
          }
        }
        continue;
      }
      // "..data" is the symlink a Kubernetes volume swaps atomically on update; the
      // manifests are links through it, so its change is a change of every file.
      if (is_manifest_name(name) || name.substr(0, 2) == "..") {
        reload = true;
      }
    }
  }
  if (overflow) {
    // Events were lost, so directories created meanwhile may lack a watch.
    add_watch_recursive(dir_);
  }
  return reload;
}

ManifestLoad ManifestSource::load() {
  ManifestLoad out;
  Scan scan;
  walk(dir_, 0, scan);
  std::sort(scan.files.begin(), scan.files.end());
  out.diagnostics = std::move(scan.diagnostics);

  if (inotify_fd_ >= 0) {
    for (const fs::path& d : scan.dirs) {
      int wd = ::inotify_add_watch(inotify_fd_, d.c_str(), kWatchMask);
      if (wd >= 0) {
        watches_[wd] = d;
      }
    }
  }

  // Removed files drop their objects, except below a directory that could not be read
  // this time (a transient permission problem must not withdraw routes).
  for (auto it = files_.begin(); it != files_.end();) {
    const bool present = std::binary_search(scan.files.begin(), scan.files.end(), it->first);
    const bool unknown = std::any_of(scan.unreadable.begin(), scan.unreadable.end(),
                                     [&](const fs::path& dir) { return is_under(it->first, dir); });
    if (!present && !unknown) {
      it = files_.erase(it);
    } else {
      ++it;
    }
  }

  for (const fs::path& path : scan.files) {
    std::unique_ptr<FileEntry>& slot = files_[path];
    if (!slot) {
      slot = std::make_unique<FileEntry>();
    }
    FileEntry& entry = *slot;
    const std::string keeping =
        entry.has_good ? "; keeping the last good content" : "; no objects read from this file";
    ReadResult read = read_file(path);
    if (!read.ok) {
      entry.problem = file_diagnostic(path, "cannot read: " + read.error + keeping);
      entry.read_once = false;  // read again next time whatever happens
      continue;
    }
    if (entry.read_once && read.content == entry.content) {
      continue;  // unchanged: the previous outcome stands
    }
    entry.content = std::move(read.content);
    entry.read_once = true;
    DecodeResult decoded = decode_file(entry.content, path.string());
    if (decoded.syntax_error) {
      routing::Diagnostic diag;
      for (routing::Diagnostic& d : decoded.errors) {
        diag = std::move(d);
      }
      diag.message += keeping;
      entry.problem = std::move(diag);
      continue;
    }
    entry.problem.reset();
    entry.has_good = true;
    entry.objects = std::move(decoded.objects);
    entry.errors = std::move(decoded.errors);
  }

  // Merge in path order; the first definition of a kind + namespace/name wins.
  std::map<std::string, Origin> first_seen;
  for (const auto& [path, entry] : files_) {
    if (entry->problem) {
      out.diagnostics.push_back(*entry->problem);
    }
    out.diagnostics.insert(out.diagnostics.end(), entry->errors.begin(), entry->errors.end());
    for (const Object& object : entry->objects) {
      const bool namespaced = !std::holds_alternative<IngressClass>(object);
      std::string key =
          std::string(kind_name(object)) + " " + object_key(meta_of(object), namespaced);
      auto [it, inserted] = first_seen.try_emplace(key, origin_of(object));
      if (!inserted) {
        routing::Diagnostic diag;
        diag.object = describe(object);
        diag.where = where_of(origin_of(object));
        diag.message = "also defined at " + where_of(it->second) +
                       ", which comes first and wins; this one is ignored";
        diag.rejected = true;
        diag.reason = "DuplicateObject";
        out.diagnostics.push_back(std::move(diag));
        continue;
      }
      out.state.put(object, false);
    }
  }
  out.files = files_.size();
  return out;
}

}  // namespace lintel::ingress
