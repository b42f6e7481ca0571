// view.hpp — HTML from the embedded mustache templates. Every value goes in through `{{ }}`, which
// escapes it; a page is its template rendered as the partial `content` of layout.mustache.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <kainjow/mustache.hpp>

namespace vigil::console {

using Data = kainjow::mustache::data;

Data make_list();
// Sets `name` to `list` and `has_<name>` to whether it has an item (for a table's head and foot).
void set_list(Data &data, const std::string &name, const Data &list);
// An embedded file by name ("overview.mustache", "console.css"); nullopt when there is none.
std::optional<std::string_view> asset(const std::string &name);
// Renders the template `name` with `data`; the partials {{> chart}} and any other template are
// available by their names without the extension. Throws std::runtime_error on a template error.
std::string render(const std::string &name, const Data &data);
// A whole page: `page` template inside layout.mustache.
std::string render_page(const std::string &page, Data data);

} // namespace vigil::console
