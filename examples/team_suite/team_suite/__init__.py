"""The team's suite, as the harness's registry sees it (harness.registry.Suite): its checks are the test files
of team_suite/team_headers/, its options [tool.harness.team_headers] (HARNESS_TEAM_HEADERS_<KEY>), its files
reports/team_headers/, and its section of report.html a table of what each response sent."""

from harness.registry import Suite

SUITE = Suite(
    id="team_headers",
    tests="team_suite.team_headers",
    options="team_suite.options:team_headers_options",
    section="team_suite.report:section",
    title="Response headers (team suite)",
    order=90,
)
