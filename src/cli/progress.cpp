#include "cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <iterator>
#include <utility>

namespace opendo::cli {
namespace {

// Keeps the rate responsive to changes while smoothing out bursty arrivals.
constexpr auto kRateWindow = std::chrono::seconds(5);
constexpr auto kRateMinimumSpan = std::chrono::milliseconds(500);

bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  if (bytes == size_unknown) return "?";
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer,
                value < 10.0    ? "%.2f %s"
                : value < 100.0 ? "%.1f %s"
                                : "%.0f %s",
                value, kUnits[unit]);
  return buffer;
}

std::string format_duration(std::chrono::seconds duration) {
  long long total = std::max<long long>(0, duration.count());
  char buffer[48];
  if (total >= 86400) {
    std::snprintf(buffer, sizeof buffer, "%lldd %02lldh", total / 86400, total % 86400 / 3600);
  } else if (total >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", total / 3600, total % 3600 / 60,
                  total % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", total / 60, total % 60);
  }
  return buffer;
}

std::string format_hresult(std::uint32_t code) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08" PRIX32, code);
  return buffer;
}

namespace {
constexpr std::pair<std::string_view, std::uint32_t> kTlsExemptionNames[] = {
    {"unknown-ca", tls_exemption::unknown_ca},
    {"wrong-usage", tls_exemption::wrong_usage},
    {"name", tls_exemption::name_mismatch},
    {"date", tls_exemption::date_invalid},
};
}  // namespace

std::string format_tls_exemptions(std::uint32_t exemptions) {
  std::string out;
  for (const auto& [name, bit] : kTlsExemptionNames) {
    if ((exemptions & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "none" : out;
}

std::optional<std::uint32_t> parse_tls_exemptions(const std::vector<std::string>& names) {
  std::uint32_t out = 0;
  for (const auto& given : names) {
    if (given == "none") continue;
    const auto* it = std::find_if(std::begin(kTlsExemptionNames), std::end(kTlsExemptionNames),
                                  [&](const auto& entry) { return entry.first == given; });
    if (it == std::end(kTlsExemptionNames)) return std::nullopt;
    out |= it->second;
  }
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) {
      out.push_back('?');
    } else if (byte == 0xC2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      out.push_back('?');  // a C1 control such as CSI (U+009B)
      ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string truncate(std::string_view text, std::size_t columns) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_continuation(static_cast<unsigned char>(text[i]))) continue;
    if (count == columns) {
      if (columns == 0) return {};
      // Over the limit: cut back one character to make room for the ellipsis.
      std::size_t cut = i;
      do {
        --cut;
      } while (cut > 0 && is_continuation(static_cast<unsigned char>(text[cut])));
      return std::string(text.substr(0, cut)) + "\u2026";
    }
    ++count;
  }
  return std::string(text);
}

std::string pad(std::string_view text, std::size_t columns) {
  std::string out = truncate(text, columns);
  std::size_t count = 0;
  for (char c : out) count += is_continuation(static_cast<unsigned char>(c)) ? 0 : 1;
  out.append(columns - count, ' ');
  return out;
}

void rate_meter::sample(std::uint64_t bytes, clock::time_point now) {
  // Fewer bytes than before means a file restarted; the old history says nothing about it now.
  if (!points_.empty() && bytes < points_.back().bytes) points_.clear();
  points_.push_back({now, bytes});
  while (points_.size() > 2 && now - points_[1].when >= kRateWindow) points_.pop_front();
}

std::optional<double> rate_meter::bytes_per_second() const {
  if (points_.size() < 2) return std::nullopt;
  const auto span = points_.back().when - points_.front().when;
  if (span < kRateMinimumSpan) return std::nullopt;
  const double seconds = std::chrono::duration<double>(span).count();
  return static_cast<double>(points_.back().bytes - points_.front().bytes) / seconds;
}

std::optional<std::chrono::seconds> rate_meter::eta(std::uint64_t transferred,
                                                    std::uint64_t total) const {
  auto rate = bytes_per_second();
  if (!rate || *rate <= 0.0 || total == size_unknown || transferred > total) return std::nullopt;
  const double left = static_cast<double>(total - transferred) / *rate;
  if (left > 100.0 * 86400.0) return std::nullopt;  // not a useful estimate
  return std::chrono::seconds(std::llround(left));
}

std::string progress_text(const job_info& job, const rate_meter& rate, std::size_t bar_width) {
  std::string out;
  const bool known = job.bytes_total != size_unknown;
  if (known) {
    const double fraction = job.bytes_total == 0
                                ? (job.state == job_state::transferred ? 1.0 : 0.0)
                                : std::min(1.0, static_cast<double>(job.bytes_transferred) /
                                                    static_cast<double>(job.bytes_total));
    if (bar_width >= 3) {
      const std::size_t inner = bar_width - 2;
      const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(inner));
      out += '[';
      out.append(filled, '=');
      if (filled < inner) {
        out += '>';
        out.append(inner - filled - 1, ' ');
      }
      out += "] ";
    }
    char percent[16];
    std::snprintf(percent, sizeof percent, "%5.1f%%", fraction * 100.0);
    out += percent;
    out += "  ";
    out += format_bytes(job.bytes_transferred) + " / " + format_bytes(job.bytes_total);
  } else {
    out += format_bytes(job.bytes_transferred) + " / ?";
  }
  if (auto speed = rate.bytes_per_second()) {
    out += "  " + format_bytes(static_cast<std::uint64_t>(*speed)) + "/s";
  }
  if (job.state == job_state::transferring) {
    if (auto left = rate.eta(job.bytes_transferred, job.bytes_total)) {
      out += "  ETA " + format_duration(*left);
    }
  }
  return out;
}

status_block::status_block(std::FILE* stream)
    : stream_(stream), terminal_(::isatty(::fileno(stream)) == 1) {}

std::size_t status_block::columns() const {
  if (!terminal_) return 80;
  winsize size{};
  if (::ioctl(::fileno(stream_), TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 80;
  return size.ws_col;
}

void status_block::erase() {
  if (drawn_ == 0) return;
  // Back to the first column of the block's first line, then clear to the end of the screen.
  std::fputs("\r", stream_);
  if (drawn_ > 1) std::fprintf(stream_, "\x1b[%zuA", drawn_ - 1);
  std::fputs("\x1b[J", stream_);
  drawn_ = 0;
}

void status_block::write_block() {
  // One column short of the width: a line that fills it would wrap on some terminals and the
  // block would no longer be where erase() expects it.
  const std::size_t width = columns() > 1 ? columns() - 1 : 1;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (i > 0) std::fputc('\n', stream_);
    std::fputs(truncate(lines_[i], width).c_str(), stream_);
  }
  drawn_ = lines_.size();
}

void status_block::draw(const std::vector<std::string>& lines) {
  if (!terminal_) {
    for (const auto& line : lines) std::fprintf(stream_, "%s\n", line.c_str());
    std::fflush(stream_);
    return;
  }
  erase();
  lines_ = lines;
  write_block();
  std::fflush(stream_);
}

void status_block::message(const std::string& text, std::FILE* stream) {
  if (stream == nullptr) stream = stream_;
  if (!terminal_) {
    std::fprintf(stream, "%s\n", text.c_str());
    std::fflush(stream);
    return;
  }
  erase();
  std::fflush(stream_);
  std::fprintf(stream, "%s\n", text.c_str());
  std::fflush(stream);
  write_block();
  std::fflush(stream_);
}

void status_block::finish() {
  if (terminal_ && drawn_ > 0) {
    std::fputc('\n', stream_);
    std::fflush(stream_);
  }
  drawn_ = 0;
  lines_.clear();
}

}  // namespace opendo::cli
