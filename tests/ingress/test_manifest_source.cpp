// Tests of the manifest folder source: scanning, re-reading, last good content, duplicates
// and the inotify watch. Each test works in a fresh mkdtemp() directory; waits are poll()
// with a deadline, never sleeps.

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ingress/manifest_source.h"

namespace lintel::ingress {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "lintel-manifests-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string service(const std::string& name, int port, const std::string& ns = "default") {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n  ports:\n    - port: " + std::to_string(port) + "\n";
}

class ManifestSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    std::string error;
    source_ = ManifestSource::create(dir_.path(), error);
    ASSERT_NE(source_, nullptr) << error;
  }

  void write(const std::string& relative, const std::string& content) {
    fs::path path = dir_.path() / relative;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }

  void remove(const std::string& relative) { fs::remove_all(dir_.path() / relative); }

  std::string file(const std::string& relative) const { return (dir_.path() / relative).string(); }

  static std::vector<std::string> texts(const ManifestLoad& load) {
    std::vector<std::string> out;
    for (const routing::Diagnostic& d : load.diagnostics) {
      out.push_back(d.to_string());
    }
    return out;
  }

  static int port_of(const ManifestLoad& load, const std::string& key) {
    auto it = load.state.services.find(key);
    if (it == load.state.services.end() || it->second.ports.empty()) {
      return -1;
    }
    return it->second.ports[0].port;
  }

  // Waits (poll with a deadline) until the descriptor is readable and the drained events
  // call for a reload. False when the deadline passes first.
  bool wait_for_reload(int fd, std::chrono::milliseconds budget = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0 && source_->drain_events()) {
        return true;
      }
    }
  }

  // True when the descriptor becomes readable before the deadline.
  static bool readable(int fd, std::chrono::milliseconds budget = std::chrono::seconds(5)) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(budget.count())) == 1;
  }

  TempDir dir_;
  std::unique_ptr<ManifestSource> source_;
};

TEST(ManifestSourceCreate, FailsForMissingDirectoryOrPlainFile) {
  TempDir dir;
  std::string error;
  EXPECT_EQ(ManifestSource::create(dir.path() / "missing", error), nullptr);
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  { std::ofstream(dir.path() / "file.yaml") << "a: 1\n"; }
  error.clear();
  EXPECT_EQ(ManifestSource::create(dir.path() / "file.yaml", error), nullptr);
  EXPECT_NE(error.find("not a directory"), std::string::npos) << error;
}

TEST_F(ManifestSourceTest, LoadsRecursivelyAndSkipsHiddenAndEditorFiles) {
  write("a.yaml", service("a", 80));
  write("sub/b.yml", service("b", 81));
  write("sub/deeper/c.json",
        R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"},
            "spec": {"ports": [{"port": 82}]}})");
  write(".git/d.yaml", service("d", 83));
  write(".hidden/e.yaml", service("e", 84));
  write(".f.yaml", service("f", 85));
  write("g.yaml~", service("g", 86));
  write("#h.yaml#", service("h", 87));
  write("notes.txt", service("i", 88));
  write("README.md", "# not a manifest\n");

  ManifestLoad load = source_->load();
  EXPECT_TRUE(load.diagnostics.empty()) << ::testing::PrintToString(texts(load));
  EXPECT_EQ(load.files, 3u);
  ASSERT_EQ(load.state.services.size(), 3u);
  EXPECT_EQ(port_of(load, "default/a"), 80);
  EXPECT_EQ(port_of(load, "default/b"), 81);
  EXPECT_EQ(port_of(load, "default/c"), 82);
  EXPECT_EQ(load.state.services.at("default/b").origin.file, file("sub/b.yml"));
}

TEST_F(ManifestSourceTest, ChangedFilesAreReadAgainEvenAtTheSameSize) {
  write("app.yaml", service("web", 80));
  EXPECT_EQ(port_of(source_->load(), "default/web"), 80);
  // Same size, same second: only the content tells the change.
  write("app.yaml", service("web", 81));
  EXPECT_EQ(port_of(source_->load(), "default/web"), 81);
  // Unchanged content: the same objects again.
  ManifestLoad again = source_->load();
  EXPECT_EQ(port_of(again, "default/web"), 81);
  EXPECT_EQ(again.files, 1u);
}

TEST_F(ManifestSourceTest, SyntaxErrorKeepsTheLastGoodContent) {
  write("app.yaml", service("web", 80));
  ASSERT_EQ(port_of(source_->load(), "default/web"), 80);

  write("app.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web\nspec: {}\n");
  ManifestLoad broken = source_->load();
  EXPECT_EQ(port_of(broken, "default/web"), 80);
  ASSERT_EQ(broken.diagnostics.size(), 1u);
  EXPECT_EQ(broken.diagnostics[0].to_string(),
            file("app.yaml") +
                ":4: YAML syntax error: end of map flow not found; keeping the last good content");
  EXPECT_TRUE(broken.diagnostics[0].rejected);
  // Still broken, still reported, still the old objects.
  ManifestLoad still = source_->load();
  EXPECT_EQ(texts(still), texts(broken));
  EXPECT_EQ(port_of(still, "default/web"), 80);

  write("app.yaml", service("web", 90));
  ManifestLoad fixed = source_->load();
  EXPECT_TRUE(fixed.diagnostics.empty()) << ::testing::PrintToString(texts(fixed));
  EXPECT_EQ(port_of(fixed, "default/web"), 90);
}

TEST_F(ManifestSourceTest, AFileBrokenFromTheStartContributesNothing) {
  write("new.json", "{\"apiVersion\": \"v1\",\n \"kind\": }\n");
  ManifestLoad load = source_->load();
  EXPECT_EQ(load.state.size(), 0u);
  EXPECT_EQ(load.files, 1u);
  ASSERT_EQ(load.diagnostics.size(), 1u);
  const std::string text = load.diagnostics[0].to_string();
  EXPECT_EQ(text.rfind(file("new.json") + ":2: JSON syntax error: ", 0), 0u) << text;
  EXPECT_NE(text.find("; no objects read from this file"), std::string::npos) << text;
}

TEST_F(ManifestSourceTest, RejectedObjectsAreReportedOnEveryLoadAndTheRestCounts) {
  write("app.yaml", service("good", 80) + "---\n" + service("bad", 0));
  for (int i = 0; i < 2; ++i) {
    ManifestLoad load = source_->load();
    EXPECT_EQ(port_of(load, "default/good"), 80);
    EXPECT_EQ(load.state.services.count("default/bad"), 0u);
    EXPECT_EQ(texts(load), std::vector<std::string>{
                               file("app.yaml") +
                               ":17 Service default/bad: spec.ports[0].port: 0 is out of range "
                               "1..65535"});
  }
}

TEST_F(ManifestSourceTest, RemovedFilesAndDirectoriesDropTheirObjects) {
  write("a.yaml", service("a", 80));
  write("sub/b.yaml", service("b", 81));
  write("sub/inner/c.yaml", service("c", 82));
  ASSERT_EQ(source_->load().state.services.size(), 3u);
  remove("a.yaml");
  ManifestLoad load = source_->load();
  EXPECT_EQ(load.state.services.count("default/a"), 0u);
  EXPECT_EQ(load.state.services.size(), 2u);
  remove("sub");
  load = source_->load();
  EXPECT_EQ(load.state.size(), 0u);
  EXPECT_EQ(load.files, 0u);
  EXPECT_TRUE(load.diagnostics.empty()) << ::testing::PrintToString(texts(load));
}

TEST_F(ManifestSourceTest, DuplicatesFirstFileInPathOrderWins) {
  write("b/web.yaml", service("web", 81));
  write("a.yaml", service("web", 80));
  write("c.yaml", service("web", 82, "other"));  // another namespace: not a duplicate
  ManifestLoad load = source_->load();
  EXPECT_EQ(port_of(load, "default/web"), 80);
  EXPECT_EQ(port_of(load, "other/web"), 82);
  EXPECT_EQ(texts(load),
            std::vector<std::string>{file("b/web.yaml") +
                                     ":1 Service default/web: also defined at " + file("a.yaml") +
                                     ":1, which comes first and wins; this one is ignored"});
  // When the winner goes, the other copy takes over without complaint.
  remove("a.yaml");
  load = source_->load();
  EXPECT_EQ(port_of(load, "default/web"), 81);
  EXPECT_TRUE(load.diagnostics.empty()) << ::testing::PrintToString(texts(load));
}

TEST_F(ManifestSourceTest, DuplicateWithinOneFile) {
  write("a.yaml", service("web", 80) + "---\n" + service("web", 81));
  ManifestLoad load = source_->load();
  EXPECT_EQ(port_of(load, "default/web"), 80);
  ASSERT_EQ(load.diagnostics.size(), 1u);
  EXPECT_EQ(load.diagnostics[0].where, file("a.yaml") + ":10");
}

TEST_F(ManifestSourceTest, UnreadableRootKeepsTheLastGoodContent) {
  write("a.yaml", service("a", 80));
  ASSERT_EQ(source_->load().state.size(), 1u);
  remove("");  // the whole directory
  ManifestLoad load = source_->load();
  EXPECT_EQ(port_of(load, "default/a"), 80);
  ASSERT_EQ(load.diagnostics.size(), 1u);
  EXPECT_NE(load.diagnostics[0].to_string().find("keeping the last good content"),
            std::string::npos)
      << load.diagnostics[0].to_string();
}

TEST_F(ManifestSourceTest, DrainWithoutWatchIsANoOp) { EXPECT_FALSE(source_->drain_events()); }

TEST_F(ManifestSourceTest, WatchSignalsWritesNewDirectoriesAndRemovals) {
  write("a.yaml", service("a", 80));
  std::string error;
  const int fd = source_->watch(error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_EQ(source_->watch(error), fd);   // idempotent
  EXPECT_FALSE(source_->drain_events());  // nothing happened yet
  ASSERT_EQ(source_->load().state.size(), 1u);

  write("a.yaml", service("a", 81));
  ASSERT_TRUE(wait_for_reload(fd));
  EXPECT_EQ(port_of(source_->load(), "default/a"), 81);
  EXPECT_FALSE(source_->drain_events());  // drained

  // A directory created after watch() gets a watch of its own, nested ones included.
  fs::create_directories(dir_.path() / "x" / "y" / "z");
  ASSERT_TRUE(wait_for_reload(fd));
  write("x/y/z/deep.yaml", service("deep", 82));
  ASSERT_TRUE(wait_for_reload(fd));
  EXPECT_EQ(port_of(source_->load(), "default/deep"), 82);

  // Files that are not manifests are seen by inotify but call for no reload.
  write(".a.yaml.swp", "swap");
  write("notes.txt", "notes");
  ASSERT_TRUE(readable(fd));
  EXPECT_FALSE(source_->drain_events());

  fs::rename(dir_.path() / "a.yaml", dir_.path() / "renamed.yaml");
  ASSERT_TRUE(wait_for_reload(fd));
  ManifestLoad load = source_->load();
  EXPECT_EQ(load.state.services.at("default/a").origin.file, file("renamed.yaml"));

  remove("x");
  ASSERT_TRUE(wait_for_reload(fd));
  EXPECT_EQ(source_->load().state.services.count("default/deep"), 0u);
}

TEST_F(ManifestSourceTest, WatchSeesFilesMovedIntoTheFolder) {
  std::string error;
  const int fd = source_->watch(error);
  ASSERT_GE(fd, 0) << error;
  // Editors and `kubectl`-style tools write a temporary file and rename it into place.
  write(".tmp-write", service("web", 80));
  ASSERT_TRUE(readable(fd));
  EXPECT_FALSE(source_->drain_events());
  fs::rename(dir_.path() / ".tmp-write", dir_.path() / "web.yaml");
  ASSERT_TRUE(wait_for_reload(fd));
  EXPECT_EQ(port_of(source_->load(), "default/web"), 80);
}

}  // namespace
}  // namespace lintel::ingress
