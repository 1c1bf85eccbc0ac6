// `o11y stack start|stop|status|logs`: Debian's Prometheus (with exemplar storage and native
// histograms) and Pushgateway as detached child processes, their configuration, data, logs
// and pid files in one state directory. For local development only: one machine, loopback
// only, no authentication.
#include "stack.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace o11y::tool {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// One of the stack's programs.
struct Service {
  const char* name;     ///< pid and log files are named after it
  const char* program;  ///< looked up in PATH
  int port;
  const char* ready_path;
};

// The tool reads the environment before it starts any thread.
fs::path state_dir() {
  if (const char* d = std::getenv("O11Y_STACK_DIR");  // NOLINT(concurrency-mt-unsafe)
      d != nullptr && *d != '\0')
    return d;
  if (const char* x = std::getenv("XDG_STATE_HOME");  // NOLINT(concurrency-mt-unsafe)
      x != nullptr && *x != '\0')
    return fs::path(x) / "o11y" / "stack";
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
  return fs::path(home != nullptr ? home : "/tmp") / ".local" / "state" / "o11y" / "stack";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Alive: a zombie (exited, its parent not reaping it: an init that does not, in a container)
/// is gone.
bool alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0)
    return false;
  const auto stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

/// The pid in the service's pid file, when that process is alive and still that program (a
/// pid is reused after its process exits).
pid_t running_pid(const fs::path& dir, const Service& s) {
  const auto text = slurp(dir / (std::string(s.name) + ".pid"));
  const auto pid = static_cast<pid_t>(std::strtol(text.c_str(), nullptr, 10));
  if (!alive(pid))
    return 0;
  const auto cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find(s.program) != std::string::npos ? pid : 0;
}

bool port_taken(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return true;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool taken =
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0;  // NOLINT
  ::close(fd);
  return taken;
}

bool ready(const Service& s) {
  httplib::Client cli("127.0.0.1", s.port);
  cli.set_connection_timeout(1s);
  const auto res = cli.Get(s.ready_path);
  return res && res->status == 200;
}

/// Starts `args` detached (its own session, output to `log`), records its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log, const fs::path& pid_file) {
  const pid_t pid = ::fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    ::setsid();  // no controlling terminal: the shell's Ctrl-C and hangup do not reach it
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int in = ::open("/dev/null", O_RDONLY);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    if (in >= 0)
      ::dup2(in, 0);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));  // NOLINT(*-const-cast)
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    // The forked child has one thread.
    const char* why = std::strerror(errno);  // NOLINT(concurrency-mt-unsafe)
    const std::string msg = "o11y stack: cannot run " + args[0] + ": " + why + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  std::ofstream(pid_file) << pid << "\n";
  return pid;
}

/// SIGTERM, then SIGKILL after 10 s; true when the process is gone.
bool terminate(pid_t pid) {
  if (pid <= 0)
    return true;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    // Our own child while `start` still runs (a failed start): reap it.
    (void)::waitpid(pid, nullptr, WNOHANG);
    if (!alive(pid))
      return true;
    std::this_thread::sleep_for(100ms);
  }
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 20 && alive(pid); ++i) {
    (void)::waitpid(pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(50ms);
  }
  return !alive(pid);
}

fs::path rules_dir(const StackOptions& o, const char* argv0) {
  if (!o.rules_dir.empty())
    return o.rules_dir;
  // Installed: <prefix>/bin/o11y and <prefix>/share/o11y/monitoring/rules.
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    exe = argv0;
  auto installed = exe.parent_path().parent_path() / "share/o11y/monitoring/rules";
  if (fs::is_directory(installed, ec))
    return installed;
  return fs::path(O11Y_SOURCE_MONITORING_DIR) / "rules";
}

std::vector<Service> services(const StackOptions& o) {
  return {{"prometheus", "prometheus", o.prometheus_port, "/-/ready"},
          {"pushgateway", "prometheus-pushgateway", o.pushgateway_port, "/-/ready"}};
}

int stop(const fs::path& dir, const StackOptions& o) {
  bool ok = true;
  for (const auto& s : services(o)) {
    const pid_t pid = running_pid(dir, s);
    if (pid != 0) {
      const bool gone = terminate(pid);
      std::cout << s.name << " (pid " << pid << ") " << (gone ? "stopped" : "did not stop") << "\n";
      ok = ok && gone;
    }
    std::error_code ec;
    fs::remove(dir / (std::string(s.name) + ".pid"), ec);
  }
  return ok ? 0 : 1;
}

int start(const fs::path& dir, const StackOptions& o, const char* argv0) {
  if (o.app_url.empty()) {
    std::cerr << "o11y stack start: --app-url HOST:PORT is required\n";
    return 2;
  }
  for (const auto& s : services(o)) {
    if (running_pid(dir, s) != 0) {
      std::cerr << "o11y stack: " << s.name << " is already running from " << dir.string()
                << " (o11y stack stop first)\n";
      return 1;
    }
  }
  for (const auto& s : services(o)) {
    if (port_taken(s.port)) {
      std::cerr << "o11y stack: port " << s.port << " on 127.0.0.1 is taken (another " << s.name
                << "?); choose another with --" << s.name << "-port\n";
      return 1;
    }
  }
  const auto rules = rules_dir(o, argv0);
  std::error_code ec;
  fs::create_directories(dir / "rules", ec);
  if (ec) {
    std::cerr << "o11y stack: cannot create " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  // Copied, so the running stack does not change under a later install.
  for (const auto& entry : fs::directory_iterator(rules, ec)) {
    if (entry.path().extension() == ".yml")
      fs::copy_file(entry.path(), dir / "rules" / entry.path().filename(),
                    fs::copy_options::overwrite_existing, ec);
  }
  std::ostringstream cfg;
  cfg << "# Written by o11y stack start.\nglobal:\n  scrape_interval: " << o.scrape_interval
      << "\n  evaluation_interval: " << o.scrape_interval << "\nrule_files:\n  - "
      << (dir / "rules").string() << "/*.yml\nscrape_configs:\n"
      << "  - job_name: app\n    static_configs:\n      - targets: ['" << o.app_url << "']\n";
  if (!o.master_url.empty()) {
    cfg << "  - job_name: app-master\n    static_configs:\n      - targets: ['" << o.master_url
        << "']\n";
  }
  cfg << "  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << o.pushgateway_port << "']\n"
      << "  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:"
      << o.prometheus_port << "']\n";
  std::ofstream(dir / "prometheus.yml") << cfg.str();

  const auto svc = services(o);
  const std::vector<std::vector<std::string>> commands = {
      {"prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
       "--storage.tsdb.path=" + (dir / "data").string(),
       "--web.listen-address=127.0.0.1:" + std::to_string(o.prometheus_port),
       "--enable-feature=exemplar-storage,native-histograms", "--web.enable-lifecycle"},
      {"prometheus-pushgateway",
       "--web.listen-address=127.0.0.1:" + std::to_string(o.pushgateway_port)}};
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < svc.size(); ++i) {
    pids.push_back(spawn(commands[i], dir / (std::string(svc[i].name) + ".log"),
                         dir / (std::string(svc[i].name) + ".pid")));
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::size_t up = 0;
  while (up < svc.size() && std::chrono::steady_clock::now() < deadline) {
    up = 0;
    for (const auto& service : svc)
      up += ready(service) ? 1U : 0U;
    if (up < svc.size())
      std::this_thread::sleep_for(200ms);
  }
  if (up < svc.size()) {
    std::cerr << "o11y stack: did not become ready within 30 s; stopping. Logs:\n";
    for (std::size_t i = 0; i < svc.size(); ++i) {
      std::cerr << "--- " << svc[i].name << " ---\n"
                << slurp(dir / (std::string(svc[i].name) + ".log"));
      terminate(pids[i]);
      fs::remove(dir / (std::string(svc[i].name) + ".pid"), ec);
    }
    return 1;
  }
  std::cout << "o11y stack started (state in " << dir.string() << ")\n"
            << "  Prometheus   http://127.0.0.1:" << o.prometheus_port << "  scraping " << o.app_url
            << (o.master_url.empty() ? "" : " and " + o.master_url) << " with o11y's rules\n"
            << "  Pushgateway  http://127.0.0.1:" << o.pushgateway_port << "\n"
            << "For local development only; `o11y stack stop` ends it.\n";
  return 0;
}

int status(const fs::path& dir, const StackOptions& o) {
  bool all = true;
  for (const auto& s : services(o)) {
    const pid_t pid = running_pid(dir, s);
    std::cout << s.name << ": " << (pid != 0 ? "running, pid " + std::to_string(pid) : "stopped")
              << "\n";
    all = all && pid != 0;
  }
  return all ? 0 : 1;
}

int logs(const fs::path& dir, const StackOptions& o) {
  std::vector<std::string> files;
  for (const auto& s : services(o))
    files.push_back((dir / (std::string(s.name) + ".log")).string());
  if (o.follow) {
    std::vector<char*> argv{const_cast<char*>("tail"), const_cast<char*>("-F")};  // NOLINT
    for (auto& f : files)
      argv.push_back(f.data());
    argv.push_back(nullptr);
    ::execvp("tail", argv.data());
    std::cerr << "o11y stack logs: cannot run tail\n";
    return 1;
  }
  for (std::size_t i = 0; i < files.size(); ++i)
    std::cout << "--- " << services(o)[i].name << " ---\n" << slurp(files[i]);
  return 0;
}

}  // namespace

int stack(const std::string& action, const StackOptions& options, const char* argv0) {
  const auto dir = state_dir();
  if (action == "start")
    return start(dir, options, argv0);
  if (action == "stop")
    return stop(dir, options);
  if (action == "status")
    return status(dir, options);
  if (action == "logs")
    return logs(dir, options);
  std::cerr << "o11y stack: unknown action \"" << action << "\" (start, stop, status or logs)\n";
  return 2;
}

}  // namespace o11y::tool
