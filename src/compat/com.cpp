// The live-object count behind opendo::compat::live_objects(), the test hook of com.hpp.
#include <atomic>

#include "compat/com.hpp"

namespace opendo::compat {
namespace {
std::atomic<long> g_live_objects{0};
}

long live_objects() noexcept {
  return g_live_objects.load(std::memory_order_acquire);
}

namespace detail {
void count_object(long delta) noexcept {
  g_live_objects.fetch_add(delta, std::memory_order_acq_rel);
}
}  // namespace detail

}  // namespace opendo::compat
