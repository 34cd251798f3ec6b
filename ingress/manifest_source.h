#pragma once
// The manifest folder source: every *.yaml, *.yml and *.json below a directory
// (recursively), watched with inotify.
//
// A file that fails to parse is reported and its last good content stays in force; a
// removed file removes its objects. Objects in a file that decode with errors are
// rejected one by one (the rest of the file still counts).
//
// Thread: one owner (the control thread). The inotify descriptor is exposed so the
// caller can wait on it with its own event loop; this class does no waiting itself.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ingress/cluster_state.h"
#include "routing/diagnostic.h"

namespace lintel::ingress {

struct ManifestLoad {
  ClusterState state;
  std::vector<routing::Diagnostic> diagnostics;  // parse and decode errors, duplicates
  size_t files = 0;
};

class ManifestSource {
 public:
  // Fails (returns nullptr, `error` set) when `dir` is not a readable directory.
  static std::unique_ptr<ManifestSource> create(const std::filesystem::path& dir,
                                                std::string& error);
  ~ManifestSource();
  ManifestSource(const ManifestSource&) = delete;
  ManifestSource& operator=(const ManifestSource&) = delete;

  // Starts watching with inotify (every subdirectory, new ones included). Returns the
  // descriptor to poll for readability, or -1 with `error` set.
  int watch(std::string& error);

  // Reads and discards pending inotify events without blocking. Returns true when any
  // of them may have changed the set of manifests (so a reload is due).
  bool drain_events();

  // Re-reads the folder: changed files are decoded again, removed ones dropped.
  // Files that no longer parse keep their last good objects.
  ManifestLoad load();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit ManifestSource(std::filesystem::path dir);
  struct FileEntry;
  void add_watch_recursive(const std::filesystem::path& dir);

  std::filesystem::path dir_;
  int inotify_fd_ = -1;
  std::map<int, std::filesystem::path> watches_;  // watch descriptor → directory
  std::map<std::filesystem::path, std::unique_ptr<FileEntry>> files_;
};

}  // namespace lintel::ingress
