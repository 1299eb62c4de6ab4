// The power-loss model's test-side handle: its shadow directory, the preloaded library's
// environment, and the power switch (the disk itself is in power_loss_disk.cpp).
#include "support/power_loss.hpp"

#include <thread>
#include <utility>

#include "support/daemon.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;

namespace opendo::test {

power_loss_model::power_loss_model(fs::path root)
    : root_(std::move(root)), dir_("opendo-power-loss") {
  fs::create_directories(root_);
  fs::create_directories(shadow() / "files");
  fs::create_directories(shadow() / "dirs");
  sync_everything();
}

sync_gate::sync_gate(const fs::path& dir, std::string part)
    : gate_(dir / "sync-gate"), held_(dir / "sync-gate.held"), part_(std::move(part)) {
  write_file(gate_, "");
}

sync_gate::~sync_gate() {
  open();
}

std::vector<std::string> sync_gate::environment() const {
  return {"OPENDO_TEST_HOLD_SYNC_OF=" + part_, "OPENDO_TEST_HOLD_SYNC_GATE=" + gate_.string()};
}

bool sync_gate::wait_until_held(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!fs::exists(held_) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return fs::exists(held_);
}

void sync_gate::forget_held() const {
  std::error_code ignored;
  fs::remove(held_, ignored);
}

void sync_gate::open() const {
  std::error_code ignored;
  fs::remove(gate_, ignored);
}

std::vector<std::string> power_loss_model::environment() const {
  std::vector<std::string> env = {"LD_PRELOAD=" + power_loss_library().string(),
                                  "OPENDO_POWER_LOSS_ROOT=" + root_.string(),
                                  "OPENDO_POWER_LOSS_SHADOW=" + shadow().string()};
  env.push_back(asan_options_for_preload());
  return env;
}

void power_loss_model::sync_everything() const {
  power_loss_disk::sync_tree(root_, shadow());
}

std::uint64_t power_loss_model::synced_size(const fs::path& file) const {
  std::error_code none;  // never synced: no copy
  const std::uintmax_t size = fs::file_size(power_loss_disk::synced_copy(shadow(), file), none);
  return none ? 0 : size;
}

void power_loss_model::power_off(std::mt19937_64& rng, double written_back_chance) {
  power_off(rng, power_off_chances{written_back_chance, 0});
}

void power_loss_model::power_off(std::mt19937_64& rng, const power_off_chances& chances) {
  power_loss_disk::restore(root_, shadow(), chances, rng);
}

fs::path power_loss_library() {
  return bin_dir() / "libopendo_power_loss.so";
}

}  // namespace opendo::test
