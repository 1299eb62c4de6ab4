// The power-loss model's test-side handle: its shadow directory, the preloaded library's
// environment, and the power switch (the disk itself is in power_loss_disk.cpp).
#include "support/power_loss.hpp"

#include <cstdlib>

#include "support/daemon.hpp"

namespace fs = std::filesystem;

namespace opendo::test {

power_loss_model::power_loss_model(fs::path root)
    : root_(std::move(root)), dir_("opendo-power-loss") {
  fs::create_directories(root_);
  fs::create_directories(shadow() / "files");
  fs::create_directories(shadow() / "dirs");
  sync_everything();
}

std::vector<std::string> power_loss_model::environment() const {
  std::vector<std::string> env = {"LD_PRELOAD=" + power_loss_library().string(),
                                  "OPENDO_POWER_LOSS_ROOT=" + root_.string(),
                                  "OPENDO_POWER_LOSS_SHADOW=" + shadow().string()};
  // AddressSanitizer wants its runtime first among the libraries a program loads.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan != nullptr ? std::string(asan) + ":" : "") +
                "verify_asan_link_order=0");
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
