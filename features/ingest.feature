Feature: Pushing samples over HTTP
  Operators push metrics with an API token and read them back within milliseconds.
  A request is all-or-nothing, and a tenant only ever sees its own data.

  Background:
    Given a running microdash
    And a tenant "acme" with an API token

  Scenario: A pushed sample can be read back
    When "acme" pushes:
      """
      {"metric_name": "cpu", "value": 42.5, "agent_id": "web-1"}
      """
    Then the reply status is 202
    And "acme" can read 1 point of "cpu" within 5 seconds

  Scenario: A batch with one bad item is refused whole
    When "acme" pushes:
      """
      [{"metric_name": "cpu", "value": 1}, {"metric_name": "cpu", "value": "high"}]
      """
    Then the reply status is 422
    And the reply names field "value" of item 1
    When everything accepted so far is stored
    Then "acme" has 0 points of "cpu"

  Scenario: Tenants never see each other's samples
    Given a tenant "globex" with an API token
    When "acme" pushes:
      """
      {"metric_name": "secret", "value": 1}
      """
    Then "acme" can read 1 point of "secret" within 5 seconds
    And "globex" has 0 points of "secret"

  Scenario: A replayed dedupe id is stored once
    When "acme" pushes:
      """
      {"metric_name": "door.opened", "value": 1, "dedupe_id": "evt-1"}
      """
    And "acme" pushes:
      """
      {"metric_name": "door.opened", "value": 1, "dedupe_id": "evt-1"}
      """
    Then the reply status is 202
    When everything accepted so far is stored
    Then "acme" has 1 point of "door.opened"

  Scenario: An unknown token is refused
    When "nobody" pushes with the token "mdt_notarealtoken":
      """
      {"metric_name": "cpu", "value": 1}
      """
    Then the reply status is 401
