// A background download with the modern opendo API: create a job, add a file, resume it, watch
// its progress until it is transferred, and complete it so the file appears at its final name.
//
//   download URL LOCAL_PATH [SOCKET]
//
// Without SOCKET the user's own opendod is used (and started if none runs).
#include <opendo/opendo.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL LOCAL_PATH [SOCKET]\n", argv[0]);
    return 2;
  }
  try {
    opendo::client_options options;
    if (argc > 3) options.socket_path = argv[3];
    opendo::client client(options);

    opendo::job job = client.create_job("example download");
    job.add_file(argv[1], argv[2]);
    job.resume();

    job.watch([](const opendo::job_event& event) {
      const opendo::job_info& info = event.job;
      if (event.kind == opendo::job_event_kind::state ||
          event.kind == opendo::job_event_kind::snapshot) {
        std::printf("state: %s\n", std::string(opendo::to_string(info.state)).c_str());
      }
      return info.state != opendo::job_state::transferred && info.state != opendo::job_state::error;
    });

    const opendo::job_info info = job.info();
    if (info.state != opendo::job_state::transferred) {
      std::fprintf(stderr, "failed: 0x%08X %s\n", info.error ? info.error->code : 0U,
                   info.error ? info.error->message.c_str() : "");
      job.cancel();
      return 1;
    }
    const opendo::hr result = job.complete();
    std::printf("saved %s (%llu bytes)%s\n", argv[2],
                static_cast<unsigned long long>(info.bytes_transferred),
                result == opendo::hr::bg_s_partial_complete ? ", partially" : "");
    return 0;
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "error 0x%08X: %s\n", e.hresult(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
