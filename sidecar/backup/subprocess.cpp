// subprocess.cpp — fork/exec with captured stderr and a cooperative stop.
#include "backup/subprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

namespace vigil {

std::string SubprocessResult::describe() const {
    std::string first = error_output.substr(0, error_output.find('\n'));
    std::string how = stopped          ? "stopped"
                      : exit_code >= 0 ? "exit code " + std::to_string(exit_code)
                                       : "killed by a signal";
    return first.empty() ? how : how + ": " + first;
}

SubprocessResult run_subprocess(const std::vector<std::string> &argv,
                                const std::map<std::string, std::string> &env, const std::string &stdout_path,
                                const std::atomic<bool> *stop) {
    SubprocessResult result;
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        result.error_output = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    std::vector<char *> args;
    for (const std::string &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);

    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        close(err_pipe[0]);
        close(err_pipe[1]);
        result.error_output = std::string("fork: ") + std::strerror(errno);
        return result;
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls until exec. It dies with the thread that runs
        // it (which waits for it): a vigild killed with SIGKILL leaves no pg_dump or pg_restore
        // running on, writing a file or a scratch database nobody will look at.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        dup2(err_pipe[1], 2);
        const int out = stdout_path.empty() ? open("/dev/null", O_WRONLY)
                                            : open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out >= 0)
            dup2(out, 1);
        for (const auto &[k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        execvp(args[0], args.data());
        const char *msg = "cannot run program: ";
        (void)!write(2, msg, strlen(msg));
        (void)!write(2, args[0], strlen(args[0]));
        (void)!write(2, "\n", 1);
        _exit(127);
    }
    close(err_pipe[1]);
    bool signalled = false;
    char buf[4096];
    for (;;) {
        pollfd pfd{err_pipe[0], POLLIN, 0};
        const int ready = poll(&pfd, 1, 100);
        if (stop && stop->load() && !signalled) {
            kill(pid, SIGTERM);
            signalled = true;
            result.stopped = true;
        }
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready > 0) {
            const ssize_t n = read(err_pipe[0], buf, sizeof buf);
            if (n <= 0)
                break;
            result.error_output.append(buf, static_cast<std::size_t>(n));
            if (result.error_output.size() > 65536)
                result.error_output.erase(0, result.error_output.size() - 65536);
        }
    }
    close(err_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::string pg_program(const std::string &bindir, const std::string &name) {
    if (!bindir.empty())
        return bindir + "/" + name;
    const std::string pg15 = "/usr/lib/postgresql/15/bin/" + name;
    struct stat st;
    if (stat(pg15.c_str(), &st) == 0)
        return pg15;
    return name;
}

} // namespace vigil
