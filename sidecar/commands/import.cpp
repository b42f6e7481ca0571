// import.cpp — `vigild import`: bulk-load a CSV file into a table.
#include <iostream>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "commands/cli.hpp"
#include "import/csv_import.hpp"
#include "exit_codes.hpp"

namespace vigil {

namespace {

struct ImportArgs {
    csv::ImportOptions options;
    bool no_header = false;
    std::string columns;
    std::string on_error = "abort";
    bool json = false;
};

// Peak resident memory of this process, in MB.
double peak_memory_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The message and exit code the command line gives for an import that cannot run: the options
// at fault named as on the command line.
CommandError command_error(const csv::ImportError &e) {
    using Kind = csv::ImportError::Kind;
    switch (e.kind()) {
    case Kind::reject_file_needed:
        return CommandError(exit_code::usage,
                            "--on-error skip needs --reject-file FILE, so no bad row is lost");
    case Kind::columns_needed:
        return CommandError(exit_code::usage, "--no-header needs --columns a,b,c");
    case Kind::no_table:
        return CommandError(exit_code::usage, e.what());
    case Kind::cannot_open:
        return CommandError(exit_code::no_input, e.what());
    case Kind::cannot_read:
    case Kind::cannot_write_rejects:
        return CommandError(exit_code::io_error, e.what());
    case Kind::bad_columns:
        return CommandError(exit_code::data_error, e.what());
    case Kind::cannot_create_rejects:
        return CommandError(exit_code::cant_create, e.what());
    case Kind::connection_lost:
        return CommandError(exit_code::unavailable, e.what());
    }
    return CommandError(exit_code::software, e.what());
}

} // namespace

void register_import_command(CommandRegistry &registry) {
    auto args = std::make_shared<ImportArgs>();
    CLI::App *cmd = registry.add(
        "import",
        "Stream a CSV file into a table with COPY; bad rows abort the import or go to a reject file",
        [args](Context &ctx) {
            csv::ImportOptions o = args->options;
            o.header = !args->no_header;
            if (!args->columns.empty()) {
                if (o.header)
                    throw CommandError(exit_code::usage,
                                       "--columns goes with --no-header (otherwise the header names them)");
                std::size_t pos = 0;
                while (pos <= args->columns.size()) {
                    std::size_t comma = args->columns.find(',', pos);
                    if (comma == std::string::npos)
                        comma = args->columns.size();
                    o.columns.push_back(args->columns.substr(pos, comma - pos));
                    pos = comma + 1;
                }
            }
            o.on_error = args->on_error == "skip" ? csv::OnError::skip : csv::OnError::abort;
            o.progress = !args->json; // and only on a terminal
            db::Connection conn = db::Connection::open(ctx.dsn());
            csv::ImportResult r;
            try {
                r = csv::import_csv(conn, o);
            } catch (const csv::ImportError &e) {
                throw command_error(e);
            }
            const bool failed = !r.first_error.empty();
            if (args->json) {
                std::cout << nlohmann::json{{"rows_read", r.rows_read},
                                            {"imported", r.imported},
                                            {"rejected", r.rejected},
                                            {"seconds", r.seconds},
                                            {"rows_per_sec", r.rows_per_sec()},
                                            {"bytes", r.bytes},
                                            {"peak_memory_mb", peak_memory_mb()},
                                            {"error",
                                             failed ? nlohmann::json(r.first_error) : nlohmann::json()}}
                                 .dump(2)
                          << '\n';
            } else {
                std::printf("rows read %lld, imported %lld, rejected %lld in %.2f s (%.0f rows/s)\n",
                            r.rows_read, r.imported, r.rejected, r.seconds, r.rows_per_sec());
                if (r.rejected > 0)
                    std::printf("rejected rows, with the reason, are in %s\n", o.reject_file.c_str());
            }
            if (failed) {
                std::cerr << "vigild: import aborted, nothing was imported: " << r.first_error << '\n';
                return exit_code::data_error;
            }
            return exit_code::ok;
        });
    cmd->add_option("-t,--table", args->options.table, "Target table (schema-qualified if needed)")
        ->required();
    cmd->add_option("--csv", args->options.path, "CSV file to read; - for standard input")->required();
    cmd->add_flag("--no-header", args->no_header,
                  "The file has no header row: name the columns with --columns");
    cmd->add_option("--columns", args->columns,
                    "With --no-header: the file's columns, e.g. email,username,age");
    cmd->add_option("--on-error", args->on_error,
                    "abort: import nothing if any row is bad (default); skip: import the good rows, bad rows "
                    "to --reject-file")
        ->check(CLI::IsMember({"abort", "skip"}));
    cmd->add_option("--reject-file", args->options.reject_file,
                    "skip mode: where bad rows go (CSV: line,error,row)");
    cmd->add_option("--batch-rows", args->options.batch_rows, "skip mode: rows per savepoint-protected COPY")
        ->check(CLI::Range(1, 1000000));
    cmd->add_flag("--json", args->json, "Print the summary as one JSON object");
}

} // namespace vigil
