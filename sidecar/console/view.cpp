// view.cpp — rendering the embedded templates.
#include "console/view.hpp"

#include <stdexcept>

#include "console/assets.hpp"

namespace vigil::console {

namespace km = kainjow::mustache;

Data make_list() {
    return Data(Data::type::list);
}

void set_list(Data &data, const std::string &name, const Data &list) {
    data.set(name, list);
    data.set("has_" + name, list.is_non_empty_list());
}

std::optional<std::string_view> asset(const std::string &name) {
    for (const Asset &a : assets())
        if (a.name == name)
            return a.text;
    return std::nullopt;
}

namespace {

// Every template is a partial by its stem ("chart" for chart.mustache).
void add_partials(Data &data) {
    for (const Asset &a : assets()) {
        const std::string name(a.name);
        const auto dot = name.rfind(".mustache");
        if (dot == std::string::npos || dot + 9 != name.size())
            continue;
        const std::string_view text = a.text;
        data.set(name.substr(0, dot), km::partial([text] { return std::string(text); }));
    }
}

} // namespace

std::string render(const std::string &name, const Data &data) {
    const auto text = asset(name);
    if (!text)
        throw std::runtime_error("no console template " + name);
    km::mustache tmpl{std::string(*text)};
    if (!tmpl.is_valid())
        throw std::runtime_error(name + ": " + tmpl.error_message());
    Data with_partials = data;
    add_partials(with_partials);
    std::string out = tmpl.render(with_partials);
    if (!tmpl.is_valid())
        throw std::runtime_error(name + ": " + tmpl.error_message());
    return out;
}

std::string render_page(const std::string &page, Data data) {
    const auto text = asset(page + ".mustache");
    if (!text)
        throw std::runtime_error("no console page " + page);
    const std::string_view body = *text;
    add_partials(data);
    data.set("content", km::partial([body] { return std::string(body); }));
    km::mustache layout{std::string(*asset("layout.mustache"))};
    std::string out = layout.render(data);
    if (!layout.is_valid())
        throw std::runtime_error(page + ": " + layout.error_message());
    return out;
}

} // namespace vigil::console
