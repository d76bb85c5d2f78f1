"""Asserts the properties of template.yaml that matter and are easy to get wrong.

Run with the AWS tool venv (scripts/tools-venv.sh): `.venv-aws/bin/python -m unittest discover -s tests/infra`.
The template is read with cfn-lint's YAML loader, which understands CloudFormation's short intrinsic tags
(!Ref, !Sub, !GetAtt, !If), and then expanded with the SAM translator (the same library `sam deploy`
uses) so that the checks also cover what SAM generates: routes, integrations, permissions.
"""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import unittest

from cfnlint.api import lint
from cfnlint.decode.cfn_yaml import load
from samtranslator.translator.transform import transform

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.environ.get("SCIM_TEMPLATE", os.path.join(ROOT, "template.yaml"))

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ORIGIN_HEADER = "X-Scim-Origin-Verify"
PUBLIC_HOST_HEADER = "x-scim-public-host"
# What CloudFormation would do with a template's Conditions, If and Rules, for the properties below.
STREAM_RETENTION_MS = 24 * 3600 * 1000
# The functions the SAM translator needs an S3 location for.
FUNCTIONS = ("ScimFunction", "EventsFunction", "SilenceWatchFunction", "ConsoleFunction")
# Cognito's rule for a hosted UI domain prefix, and the words it refuses in one.
COGNITO_DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
COGNITO_RESERVED_WORDS = ("aws", "amazon", "cognito")


def read(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
        return f.read()


def plain(node):
    """cfn-lint's node classes as plain dicts/lists/strings."""
    return json.loads(json.dumps(node))


def as_list(value):
    return value if isinstance(value, list) else [value]


class Evaluator:
    """Resolves Fn::If / Condition / Fn::And / Fn::Or / Fn::Not / Fn::Equals / Ref the way CloudFormation
    does, for one region and set of parameter values (defaults for the rest)."""

    def __init__(self, template, region, **params):
        self.t = template
        given = {k: str(p.get("Default", "")) for k, p in template.get("Parameters", {}).items()}
        given.update({k: str(v) for k, v in params.items()})
        # A CommaDelimitedList parameter is a list of strings wherever it is used.
        self.refs = {k: v.split(",") if template["Parameters"][k]["Type"] == "CommaDelimitedList" else v
                     for k, v in given.items()}
        self.refs["AWS::Region"] = region
        self.refs["AWS::StackId"] = f"arn:aws:cloudformation:{region}:123456789012:stack/scim/51af3dc0-da77-11e4-872e-1234567db123"

    def condition(self, name):
        return self.value(self.t["Conditions"][name])

    def value(self, node):
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        (fn, arg), = node.items()
        if fn == "Ref":
            return self.refs.get(arg, node)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = self.value(arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.value(a) for a in arg)
        if fn == "Fn::Join":
            separator, items = arg
            return separator.join(self.value(items))
        if fn == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if fn == "Fn::Select":
            index, items = self.value(arg)
            return items[int(index)] if isinstance(items, list) else node
        if fn == "Fn::Split":
            separator, text = self.value(arg)
            # Only a string resolved here can be split (not, say, an unresolved Fn::Sub).
            return text.split(separator) if isinstance(text, str) else node
        return node

    def present(self, items):
        """A list as CloudFormation sees it: each item resolved, AWS::NoValue ones left out."""
        return [i for i in self.value(items) if i != {"Ref": "AWS::NoValue"}]

    def failed_rules(self):
        """The AssertDescription of every Rules assertion that would stop the deployment."""
        failed = []
        for rule in self.t.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            failed += [a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])]
        return failed


class _NoManagedPolicies:
    def load(self):
        return {}


class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = plain(load(TEMPLATE))
        cls.res = cls.t["Resources"]
        sam = json.loads(json.dumps(cls.t))
        # The translator wants an S3 location; `sam build`/`sam deploy` put one there.
        for function in FUNCTIONS:
            sam["Resources"][function]["Properties"]["CodeUri"] = "s3://bucket/scim-lambda.zip"
        sam["Resources"]["SchemaExtensionsLayer"]["Properties"]["ContentUri"] = "s3://bucket/extensions.zip"
        os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        cls.cfn = transform(sam, {}, _NoManagedPolicies())
        cls.cfn_res = cls.cfn["Resources"]

    def of_type(self, type_name, resources=None):
        resources = resources or self.cfn_res
        return {k: v for k, v in resources.items() if v["Type"] == type_name}

    def distribution(self):
        return self.res["Distribution"]["Properties"]["DistributionConfig"]

    def behaviour(self, pattern):
        behaviours = [b for b in self.distribution()["CacheBehaviors"] if b["PathPattern"] == pattern]
        self.assertEqual(len(behaviours), 1)
        return behaviours[0]

    def scim_behaviour(self):
        return self.behaviour("/scim/v2/*")

    def admin_behaviour(self):
        return self.behaviour("/admin*")

    # --- CloudFront -------------------------------------------------------------------------

    def test_scim_behaviour_disables_caching(self):
        b = self.scim_behaviour()
        self.assertEqual(b["CachePolicyId"], CACHING_DISABLED)
        self.assertNotIn("ForwardedValues", b, "legacy cache settings would override the policy")
        for key in ("DefaultTTL", "MinTTL", "MaxTTL"):
            self.assertNotIn(key, b)

    def test_authorization_forwarded_and_host_not(self):
        # The managed AllViewerExceptHostHeader policy forwards every viewer header except Host
        # (so Authorization, If-Match, Content-Type reach the function) and every query string.
        # Host must not be forwarded: API Gateway answers 403 to a Host that is not its own.
        for b in [self.scim_behaviour(), self.admin_behaviour(), self.distribution()["DefaultCacheBehavior"]]:
            self.assertEqual(b["OriginRequestPolicyId"], ALL_VIEWER_EXCEPT_HOST)
        # No custom origin request policy that might list Host or drop Authorization.
        self.assertEqual(self.of_type("AWS::CloudFront::OriginRequestPolicy", self.res), {})
        self.assertEqual(self.of_type("AWS::CloudFront::CachePolicy", self.res), {})

    def test_https_only_for_viewers_and_origin(self):
        for b in self.distribution()["CacheBehaviors"] + [self.distribution()["DefaultCacheBehavior"]]:
            self.assertIn(b["ViewerProtocolPolicy"], ("https-only", "redirect-to-https"))
        # https-only, not redirect: an IdP's POST redirected to HTTPS would lose its body.
        self.assertEqual(self.scim_behaviour()["ViewerProtocolPolicy"], "https-only")
        for origin in self.distribution()["Origins"]:
            self.assertEqual(origin["CustomOriginConfig"]["OriginProtocolPolicy"], "https-only")
            self.assertEqual(origin["CustomOriginConfig"]["OriginSSLProtocols"], ["TLSv1.2"])

    def test_all_methods_allowed_on_scim_behaviour(self):
        self.assertEqual(
            set(self.scim_behaviour()["AllowedMethods"]),
            {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"},
        )

    def test_viewer_host_function_on_every_behaviour(self):
        for b in self.distribution()["CacheBehaviors"] + [self.distribution()["DefaultCacheBehavior"]]:
            assoc = b["FunctionAssociations"]
            self.assertEqual(assoc, [{"EventType": "viewer-request",
                                      "FunctionARN": {"Fn::GetAtt": ["ViewerHostFunction", "FunctionARN"]}}])

    def test_origin_secret_wired_to_cloudfront_and_function(self):
        origin = self.distribution()["Origins"][0]
        headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["OriginCustomHeaders"]}
        self.assertIn(ORIGIN_HEADER, headers)
        env = self.res["ScimFunction"]["Properties"]["Environment"]["Variables"]
        # The same secret on both sides: CloudFront resolves its current value, the function gets
        # only its id (no value in the function's configuration) and reads current and previous.
        self.assertEqual(headers[ORIGIN_HEADER],
                         {"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString:current}}"})
        self.assertEqual(env["SCIM_ORIGIN_SECRET_ID"], {"Ref": "OriginVerifySecret"})
        self.assertNotIn("SCIM_ORIGIN_SECRET", env)
        # The header name the Rust middleware checks.
        origin_rs = read("crates/scim-lambda/src/origin.rs")
        self.assertIn(f'ORIGIN_HEADER: &str = "{ORIGIN_HEADER.lower()}"', origin_rs)
        gen = self.res["OriginVerifySecret"]["Properties"]["GenerateSecretString"]
        self.assertGreaterEqual(gen["PasswordLength"], 32)
        self.assertEqual((gen["GenerateStringKey"], json.loads(gen["SecretStringTemplate"])),
                         ("current", {"previous": ""}))

    def test_origin_is_the_http_api(self):
        origin = self.distribution()["Origins"][0]
        self.assertEqual(origin["DomainName"], {"Fn::Sub": "${ScimHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"})

    def test_custom_domain(self):
        d = self.distribution()
        self.assertEqual(d["Aliases"]["Fn::If"][0], "HasCustomDomain")
        cert = d["ViewerCertificate"]["Fn::If"]
        self.assertEqual(cert[1]["AcmCertificateArn"], {"Ref": "CertificateArn"})
        self.assertEqual(cert[1]["SslSupportMethod"], "sni-only")
        self.assertEqual(cert[2], {"CloudFrontDefaultCertificate": True})

    # --- Rate limiting -----------------------------------------------------------------------

    def waf(self):
        return plain(load(os.path.join(ROOT, "infra", "waf.yaml")))

    def web_acl_for(self, region, **params):
        """(the web ACL the distribution gets, the Rules that refuse the deployment) in a region."""
        ev = Evaluator(self.t, region, **params)
        return ev.value(self.distribution()["WebACLId"]), ev.failed_rules()

    def test_waf_on_by_default_in_every_region(self):
        created = {"Fn::GetAtt": ["WafStack", "Outputs.WebAclArn"]}
        given = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/scim/1"
        no_acl = {"Ref": "AWS::NoValue"}
        # us-east-1: the stack creates the web ACL itself (infra/waf.yaml as a nested stack).
        self.assertEqual(self.web_acl_for("us-east-1"), (created, []))
        # Elsewhere CloudFormation refuses the defaults, saying what to do, until the ARN is given.
        acl, failed = self.web_acl_for("eu-west-1")
        self.assertEqual(len(failed), 1)
        self.assertIn("infra/waf.yaml", failed[0])
        self.assertIn("WebAclArn", failed[0])
        self.assertEqual(self.web_acl_for("eu-west-1", WebAclArn=given), (given, []))
        self.assertEqual(self.web_acl_for("us-east-1", WebAclArn=given), (given, []))
        # The switch: off means no web ACL and no refusal, in any region.
        for region in ("us-east-1", "eu-west-1"):
            self.assertEqual(self.web_acl_for(region, EnableWaf="false"), (no_acl, []))
        self.assertEqual(self.t["Parameters"]["EnableWaf"]["Default"], "true")
        self.assertTrue(Evaluator(self.t, "us-east-1").condition("CreateWebAcl"))
        self.assertEqual(self.res["WafStack"]["Condition"], "CreateWebAcl")

    def test_waf_nested_stack_is_infra_waf_yaml_with_the_stack_parameters(self):
        stack = self.res["WafStack"]
        self.assertEqual(stack["Type"], "AWS::CloudFormation::Stack")
        self.assertEqual(stack["Properties"]["TemplateURL"], "infra/waf.yaml")
        passed = stack["Properties"]["Parameters"]
        self.assertEqual(passed["RateLimit"], {"Ref": "WafRateLimit"})
        self.assertEqual(passed["EvaluationWindowSec"], {"Ref": "WafEvaluationWindowSec"})
        self.assertLessEqual(set(passed), set(self.waf()["Parameters"]))
        self.assertEqual(self.waf()["Outputs"]["WebAclArn"]["Value"], {"Fn::GetAtt": ["WebAcl", "Arn"]})
        # The defaults agree, so a companion stack deployed with defaults limits like the nested one.
        for mine, theirs in (("WafRateLimit", "RateLimit"), ("WafEvaluationWindowSec", "EvaluationWindowSec")):
            self.assertEqual(self.t["Parameters"][mine]["Default"], self.waf()["Parameters"][theirs]["Default"])

    def test_waf_rate_based_rule_per_client_ip(self):
        waf = self.waf()
        # A CloudFront web ACL only exists in us-east-1: the companion template says so up front.
        ev = Evaluator(waf, "eu-west-1")
        self.assertEqual(len(ev.failed_rules()), 1)
        self.assertEqual(Evaluator(waf, "us-east-1").failed_rules(), [])
        acl = waf["Resources"]["WebAcl"]
        self.assertEqual(acl["Type"], "AWS::WAFv2::WebACL")
        p = acl["Properties"]
        self.assertEqual(p["Scope"], "CLOUDFRONT")
        self.assertEqual(p["DefaultAction"], {"Allow": {}})
        self.assertEqual(len(p["Rules"]), 1, "each rule costs $1/month: infra/README.md counts one")
        rule = p["Rules"][0]
        rate = rule["Statement"]["RateBasedStatement"]
        self.assertEqual(rate["AggregateKeyType"], "IP")
        self.assertNotIn("ScopeDownStatement", rate, "every request counts, valid token or not")
        self.assertEqual(rate["Limit"], {"Ref": "RateLimit"})
        self.assertEqual(rate["EvaluationWindowSec"], {"Ref": "EvaluationWindowSec"})
        self.assertGreaterEqual(waf["Parameters"]["RateLimit"]["MinValue"], 10)
        # Below the stage limit: one client alone cannot use up the API's 429 budget for everyone.
        window = waf["Parameters"]["EvaluationWindowSec"]["Default"]
        per_second = waf["Parameters"]["RateLimit"]["Default"] / window
        self.assertLess(per_second, self.t["Parameters"]["ApiThrottlingRateLimit"]["Default"])
        # A blocked client gets a SCIM error with status 429 and Retry-After, not WAF's bare 403.
        response = rule["Action"]["Block"]["CustomResponse"]
        self.assertEqual(response["ResponseCode"], 429)
        self.assertEqual(response["ResponseHeaders"], [{"Name": "Retry-After", "Value": {"Ref": "EvaluationWindowSec"}}])
        body = p["CustomResponseBodies"][response["CustomResponseBodyKey"]]
        self.assertEqual(body["ContentType"], "APPLICATION_JSON")
        error = json.loads(body["Content"])
        self.assertEqual(error["schemas"], ["urn:ietf:params:scim:api:messages:2.0:Error"])
        self.assertEqual(error["status"], "429")
        self.assertTrue(error["detail"])
        self.assertTrue(rule["VisibilityConfig"]["CloudWatchMetricsEnabled"])

    def test_no_circular_public_url(self):
        # The function must not depend on the distribution (which depends on the API, which depends
        # on the function): the base URL comes from X-Scim-Public-Host or the custom-domain parameter.
        text = json.dumps(self.res["ScimFunction"])
        self.assertNotIn("Distribution", text)

    # --- The function and the API -------------------------------------------------------------

    def test_function_runtime_and_build(self):
        f = self.res["ScimFunction"]
        self.assertEqual(f["Metadata"]["BuildMethod"], "rust-cargolambda")
        self.assertEqual(f["Metadata"]["BuildProperties"]["Binary"], "scim-lambda")
        p = f["Properties"]
        self.assertEqual(p["Runtime"], "provided.al2023")
        self.assertEqual(p["Handler"], "bootstrap")
        self.assertEqual(p["Architectures"], [{"Ref": "Architecture"}])
        self.assertEqual(self.t["Parameters"]["Architecture"]["Default"], "arm64")
        self.assertEqual(p["LoggingConfig"]["LogGroup"], {"Ref": "FunctionLogGroup"})
        env = p["Environment"]["Variables"]
        self.assertEqual(env["SCIM_STORE"], "dynamodb")
        self.assertEqual(env["SCIM_TABLE"], {"Ref": "ScimTable"})
        self.assertEqual(env["SCIM_TOKEN_REGISTRY"], {"Fn::Sub": "secretsmanager:${TokenRegistrySecret}"})
        self.assertEqual(env["SCIM_CURSOR_KEY_SECRET_ID"], {"Ref": "CursorKeySecret"})
        for value_variable in ("SCIM_CURSOR_KEY", "SCIM_ORIGIN_SECRET", "SCIM_BOOTSTRAP_TOKEN"):
            self.assertNotIn(value_variable, env)
        self.assertNotIn("{{resolve:", json.dumps(env), "no secret value in the function's configuration")
        gen = self.res["CursorKeySecret"]["Properties"]["GenerateSecretString"]
        # Letters and digits, a multiple of 4 long: valid base64 of at least 16 bytes.
        self.assertTrue(gen["ExcludePunctuation"])
        self.assertEqual(gen["PasswordLength"] % 4, 0)
        self.assertGreaterEqual(gen["PasswordLength"] * 3 // 4, 16)
        self.assertEqual(gen["GenerateStringKey"], "current")

    def test_schema_extensions_ship_in_a_layer_only_when_named(self):
        layer = self.res["SchemaExtensionsLayer"]
        self.assertEqual(layer["Condition"], "HasSchemaExtensions")
        self.assertEqual(layer["Properties"]["ContentUri"], "infra/schema-extensions/")
        self.assertTrue(os.path.isdir(os.path.join(ROOT, "infra/schema-extensions")))
        p = self.res["ScimFunction"]["Properties"]
        for file, variable, layers in (("", None, None), ("acme.json", "/opt/acme.json", [{"Ref": "SchemaExtensionsLayer"}])):
            e = Evaluator(self.t, "eu-west-1", SchemaExtensionsFile=file)
            got = e.value(p["Environment"]["Variables"]["SCIM_SCHEMA_EXTENSIONS"])
            if variable is None:
                self.assertEqual(got, {"Ref": "AWS::NoValue"})
                self.assertEqual(e.value(p["Layers"]), {"Ref": "AWS::NoValue"})
            else:
                self.assertEqual(got, {"Fn::Sub": "/opt/${SchemaExtensionsFile}"})
                self.assertEqual(e.value(p["Layers"]), layers)
        pattern = re.compile(self.t["Parameters"]["SchemaExtensionsFile"]["AllowedPattern"])
        for name in ("", "acme.json", "schema-extensions.json"):
            self.assertTrue(pattern.fullmatch(name), name)
        for name in ("../etc/passwd", "/opt/x.json", "acme", "a b.json"):
            self.assertFalse(pattern.fullmatch(name), name)

    def test_reserved_concurrency(self):
        functions = self.of_type("AWS::Lambda::Function")
        for name, param, condition in (("ScimFunction", "ReservedConcurrency", "HasReservedConcurrency"),
                                       ("EventsFunction", "EventsReservedConcurrency",
                                        "HasEventsReservedConcurrency")):
            want = {"Fn::If": [condition, {"Ref": param}, {"Ref": "AWS::NoValue"}]}
            self.assertEqual(functions[name]["Properties"]["ReservedConcurrentExecutions"], want, name)
            self.assertGreater(self.t["Parameters"][param]["Default"], 0, f"{param}: on by default")
            # 0 means "none": Lambda would read a reservation of 0 as "never run".
            self.assertFalse(Evaluator(self.t, "eu-west-1", **{param: 0}).condition(condition))
            self.assertTrue(Evaluator(self.t, "eu-west-1").condition(condition))
        # The SCIM function's default covers the stage's rate at up to one second per request.
        self.assertGreaterEqual(self.t["Parameters"]["ReservedConcurrency"]["Default"],
                                self.t["Parameters"]["ApiThrottlingRateLimit"]["Default"])

    def test_per_tenant_limits_are_stack_parameters(self):
        env = self.of_type("AWS::Lambda::Function")["ScimFunction"]["Properties"]["Environment"]["Variables"]
        for variable, param in (("SCIM_TENANT_RATE_PER_SECOND", "TenantRatePerSecond"),
                                ("SCIM_TENANT_BURST", "TenantBurst"),
                                ("SCIM_TENANT_READS_PER_SECOND", "TenantReadsPerSecond"),
                                ("SCIM_TENANT_READ_BURST", "TenantReadBurst")):
            self.assertEqual(env[variable], {"Ref": param}, variable)
            self.assertGreater(self.t["Parameters"][param]["Default"], 0, param)
        # One tenant alone cannot take the whole stage from one instance.
        self.assertLess(self.t["Parameters"]["TenantRatePerSecond"]["Default"],
                        self.t["Parameters"]["ApiThrottlingRateLimit"]["Default"])

    def test_log_groups_have_retention(self):
        for name, lg in self.of_type("AWS::Logs::LogGroup", self.res).items():
            self.assertEqual(lg["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"}, name)

    def test_http_api_routes_payload_throttling_access_logs(self):
        api = self.of_type("AWS::ApiGatewayV2::Api")["ScimHttpApi"]["Properties"]["Body"]
        self.assertEqual(set(api["paths"]), {"/scim/v2", "/scim/v2/{proxy+}", "/admin", "/admin/{proxy+}"})
        for path in api["paths"].values():
            integration = path["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
            self.assertEqual(integration["payloadFormatVersion"], "2.0")
            self.assertEqual(integration["type"], "aws_proxy")
        stage = self.of_type("AWS::ApiGatewayV2::Stage")["ScimHttpApiApiGatewayDefaultStage"]["Properties"]
        self.assertEqual(stage["StageName"], "$default")
        self.assertEqual(stage["DefaultRouteSettings"]["ThrottlingRateLimit"], {"Ref": "ApiThrottlingRateLimit"})
        self.assertEqual(stage["DefaultRouteSettings"]["ThrottlingBurstLimit"], {"Ref": "ApiThrottlingBurstLimit"})
        fmt = json.loads(stage["AccessLogSettings"]["Format"])
        self.assertIn("requestId", fmt)
        self.assertNotIn("authorization", stage["AccessLogSettings"]["Format"].lower())

    # --- IAM -------------------------------------------------------------------------------------

    def statements(self):
        """Every IAM statement in the expanded template, with the policy it came from."""
        out = []
        for name, role in self.of_type("AWS::IAM::Role").items():
            self.assertNotIn("ManagedPolicyArns", role["Properties"], f"{name}: managed policies are broad")
            for policy in role["Properties"].get("Policies", []):
                for s in as_list(policy["PolicyDocument"]["Statement"]):
                    out.append((f"{name}/{policy['PolicyName']}", s))
        for name, policy in self.of_type("AWS::IAM::Policy").items():
            for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                out.append((name, s))
        return out

    def test_least_privilege(self):
        seen = set()
        for where, s in self.statements():
            actions = as_list(s["Action"])
            resources = as_list(s.get("Resource", []))
            for a in actions:
                self.assertNotIn("*", a.split(":", 1)[-1], f"{where}: wildcard action {a}")
            services = {a.split(":", 1)[0] for a in actions}
            if services & {"dynamodb", "secretsmanager", "logs"}:
                for r in resources:
                    self.assertNotEqual(r, "*", f"{where}: {actions} on *")
                    self.assertFalse(isinstance(r, str) and r.endswith(":*"), f"{where}: {r}")
            stream_actions = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                              "dynamodb:ListStreams"}
            if "dynamodb" in services and set(actions) <= stream_actions:
                # The events function reads the stream and nothing else of the table.
                seen.add("stream")
                self.assertTrue(where.startswith("EventsFunctionRole/"), where)
                self.assertIn(resources, [[{"Fn::GetAtt": ["ScimTable", "StreamArn"]}],
                                          [{"Fn::Sub": "${ScimTable.Arn}/stream/*"}]])
            elif "dynamodb" in services and resources == [{"Fn::Sub": "${ScimTable.Arn}/index/by_resource"}]:
                # The provisioning log by resource: operators read it (scimctl, the console); the SCIM
                # function never does.
                seen.add("index")
                self.assertTrue(where.startswith(("OperatorsRole/", "ConsoleFunctionRole/")), where)
                self.assertEqual(actions, ["dynamodb:Query"])
            elif "dynamodb" in services and resources == [{"Fn::Sub": "${ScimTable.Arn}/index/sorted_*"}]:
                # The sort indexes: the functions read them for sorted lists, and only with Query.
                seen.add("sort")
                self.assertTrue(where.startswith(("FunctionRole/", "ConsoleFunctionRole/")), where)
                self.assertEqual(actions, ["dynamodb:Query"])
            elif "dynamodb" in services and where.startswith("SilenceWatchRole/"):
                seen.add("watch")
                # The silence watcher reads a tenant's settings and token uses, and writes nothing.
                self.assertEqual((set(actions), resources),
                                 ({"dynamodb:GetItem", "dynamodb:Query"}, [{"Fn::GetAtt": ["ScimTable", "Arn"]}]))
            elif "dynamodb" in services:
                seen.add("dynamodb")
                # scimctl, as the operators' role, and the console drive the same store as the function.
                self.assertTrue(where.startswith(("FunctionRole/", "OperatorsRole/", "ConsoleFunctionRole/")), where)
                # The table itself; its index only as above.
                self.assertEqual(resources, [{"Fn::GetAtt": ["ScimTable", "Arn"]}])
                # Exactly what crates/scim-dynamodb calls (TransactWriteItems is authorised per item).
                self.assertEqual(set(actions), {
                    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem",
                    "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"})
            if "events" in services:
                seen.add("events")
                self.assertEqual((actions, resources), (["events:PutEvents"], [{"Fn::GetAtt": ["EventBus", "Arn"]}]))
            if "sqs" in services:
                seen.add("sqs")
                self.assertEqual((actions, resources),
                                 (["sqs:SendMessage"], [{"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}]))
            if "secretsmanager" in services and where.startswith(("OperatorsRole/", "ConsoleFunctionRole/token")):
                # The roles that write the registry, and only it.
                seen.add("registry writers")
                self.assertEqual((set(actions), resources), (
                    {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                     "secretsmanager:DescribeSecret"}, [{"Ref": "TokenRegistrySecret"}]))
            elif "secretsmanager" in services:
                seen.add("secretsmanager")
                self.assertEqual(actions, ["secretsmanager:GetSecretValue"])
                self.assertIn(resources, ([{"Ref": "TokenRegistrySecret"}],
                                          [{"Ref": "OriginVerifySecret"}, {"Ref": "CursorKeySecret"}]))
        self.assertEqual(seen, {"dynamodb", "index", "sort", "secretsmanager", "registry writers", "stream", "events",
                                "sqs", "watch"})

    # --- Data ------------------------------------------------------------------------------------

    def test_table(self):
        table = self.res["ScimTable"]
        self.assertEqual(table["DeletionPolicy"], "Retain")
        self.assertEqual(table["UpdateReplacePolicy"], "Retain")
        p = table["Properties"]
        self.assertEqual(p["BillingMode"], "PAY_PER_REQUEST")
        self.assertTrue(p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertTrue(p["DeletionProtectionEnabled"])
        self.assertTrue(p["SSESpecification"]["SSEEnabled"])
        self.assertEqual(p["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"},
                                          {"AttributeName": "sk", "KeyType": "RANGE"}])
        # The sort indexes as scim_dynamodb's keys.rs declares them (SORT_INDEXES), in its order.
        sort_indexes = re.findall(r'SortIndex \{\s*path: "[^"]+",\s*attribute: "([^"]+)",\s*index: "([^"]+)",',
                                  read("crates/scim-dynamodb/src/keys.rs"))
        self.assertEqual(len(sort_indexes), 5)
        plain = [a for a in p["AttributeDefinitions"] if "Fn::If" not in a]
        self.assertEqual({(a["AttributeName"], a["AttributeType"]) for a in plain},
                         {("pk", "S"), ("sk", "S"), ("rpk", "S"), ("rsk", "S")})
        # The provisioning log by resource, as scim_dynamodb's keys.rs and create_table declare it;
        # then each sort index, present when SortIndexes reaches its place (CloudFormation adds at most
        # one index per stack update), with its key attribute defined under the same condition.
        self.assertEqual(p["GlobalSecondaryIndexes"][0], {
            "IndexName": "by_resource",
            "KeySchema": [{"AttributeName": "rpk", "KeyType": "HASH"},
                          {"AttributeName": "rsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}})
        conditional = [a["Fn::If"] for a in p["AttributeDefinitions"] if "Fn::If" in a]
        self.assertEqual(len(p["GlobalSecondaryIndexes"]), 6)
        for n, ((attribute, name), index, definition) in enumerate(
                zip(sort_indexes, p["GlobalSecondaryIndexes"][1:], conditional), 1):
            self.assertEqual(index["Fn::If"], [f"HasSortIndex{n}", {
                "IndexName": name,
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": attribute, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}, {"Ref": "AWS::NoValue"}])
            self.assertEqual(definition, [f"HasSortIndex{n}", {"AttributeName": attribute, "AttributeType": "S"},
                                          {"Ref": "AWS::NoValue"}])
            # Each index needs the one before it, so a count of N means the first N.
            condition = self.t["Conditions"][f"HasSortIndex{n}"]
            if n > 1:
                self.assertEqual(condition["Fn::And"][0], {"Condition": f"HasSortIndex{n - 1}"})
        self.assertEqual(self.t["Parameters"]["SortIndexes"]["Default"], 5)
        # Change events need both images of every item change (scim_dynamodb::stream).
        self.assertEqual(p["StreamSpecification"], {"StreamViewType": "NEW_AND_OLD_IMAGES"})

    # --- Change events ---------------------------------------------------------------------------

    def test_events_function_is_the_same_binary_selected_by_scim_function(self):
        f = self.res["EventsFunction"]
        http = self.res["ScimFunction"]
        self.assertEqual(f["Metadata"], http["Metadata"])
        for key in ("CodeUri", "Handler", "Runtime", "Architectures"):
            self.assertEqual(f["Properties"][key], http["Properties"][key], key)
        env = f["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["SCIM_FUNCTION"], "events")
        self.assertEqual(env["SCIM_EVENT_BUS"], {"Ref": "EventBus"})
        self.assertEqual(f["Properties"]["Role"], {"Fn::GetAtt": ["EventsFunctionRole", "Arn"]})
        self.assertEqual(f["Properties"]["LoggingConfig"]["LogGroup"], {"Ref": "EventsFunctionLogGroup"})
        # The names the Rust code reads.
        config = read("crates/scim-lambda/src/config.rs")
        for name in ('"SCIM_FUNCTION"', '"SCIM_EVENT_BUS"', 'Some("events")'):
            self.assertIn(name, config)
        self.assertIn('EVENT_SOURCE: &str = "scim"', read("crates/scim-dynamodb/src/stream.rs"))
        self.assertEqual(self.res["EventBus"]["Type"], "AWS::Events::EventBus")

    def test_events_stream_source_retries_from_the_failed_record(self):
        mappings = self.of_type("AWS::Lambda::EventSourceMapping")
        self.assertEqual(len(mappings), 1)
        m = next(iter(mappings.values()))["Properties"]
        self.assertEqual(m["FunctionName"], {"Ref": "EventsFunction"})
        self.assertEqual(m["EventSourceArn"], {"Fn::GetAtt": ["ScimTable", "StreamArn"]})
        self.assertEqual(m["StartingPosition"], "TRIM_HORIZON")
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertTrue(m["BisectBatchOnFunctionError"])
        self.assertGreaterEqual(m["MaximumRetryAttempts"], 1)
        self.assertEqual(m["DestinationConfig"]["OnFailure"]["Destination"],
                         {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]})
        # In order per item: one batch per shard at a time (the default).
        self.assertNotIn("ParallelizationFactor", m)

    def test_events_dead_letter_queue_and_alarms(self):
        q = self.res["EventsDeadLetterQueue"]["Properties"]
        self.assertEqual(q["MessageRetentionPeriod"], 1209600)
        self.assertTrue(q["SqsManagedSseEnabled"])
        dlq = self.res["EventsDeadLetterAlarm"]["Properties"]
        self.assertEqual((dlq["Namespace"], dlq["MetricName"]), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"))
        self.assertEqual(dlq["Dimensions"], [{"Name": "QueueName",
                                              "Value": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}}])
        self.assertEqual((dlq["Threshold"], dlq["ComparisonOperator"]), (0, "GreaterThanThreshold"))
        errors = self.res["EventsFunctionErrorsAlarm"]["Properties"]
        self.assertEqual((errors["Namespace"], errors["MetricName"]), ("AWS/Lambda", "Errors"))
        self.assertEqual(errors["Dimensions"], [{"Name": "FunctionName", "Value": {"Ref": "EventsFunction"}}])
        for alarm in (dlq, errors):
            self.assertEqual(alarm["AlarmActions"]["Fn::If"][0], "HasAlarmTopic")

    def test_the_console_function_has_its_own_errors_alarm(self):
        errors = self.res["ConsoleFunctionErrorsAlarm"]["Properties"]
        self.assertEqual((errors["Namespace"], errors["MetricName"]), ("AWS/Lambda", "Errors"))
        self.assertEqual(errors["Dimensions"], [{"Name": "FunctionName", "Value": {"Ref": "ConsoleFunction"}}])
        self.assertEqual((errors["Threshold"], errors["ComparisonOperator"]), (0, "GreaterThanThreshold"))
        self.assertEqual(errors["AlarmActions"]["Fn::If"][0], "HasAlarmTopic")

    def test_only_the_events_function_publishes_to_the_bus(self):
        policy = self.res["EventBusPublisherPolicy"]
        self.assertEqual(policy["Type"], "AWS::Events::EventBusPolicy")
        p = policy["Properties"]
        self.assertEqual(p["EventBusName"], {"Ref": "EventBus"})
        s = p["Statement"]
        # An Allow would not stop same-account principals whose identity policy allows PutEvents.
        self.assertEqual((s["Effect"], s["Principal"], s["Action"]), ("Deny", "*", "events:PutEvents"))
        self.assertEqual(s["Resource"], {"Fn::GetAtt": ["EventBus", "Arn"]})
        self.assertEqual(s["Condition"],
                         {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["EventsFunctionRole", "Arn"]}}})
        self.assertNotIn("Path", self.res["EventsFunctionRole"]["Properties"], "aws:PrincipalArn is the role ARN")

    def test_events_iterator_age_alarm(self):
        a = self.res["EventsIteratorAgeAlarm"]["Properties"]
        self.assertEqual((a["Namespace"], a["MetricName"], a["Statistic"]), ("AWS/Lambda", "IteratorAge", "Maximum"))
        self.assertEqual(a["Dimensions"], [{"Name": "FunctionName", "Value": {"Ref": "EventsFunction"}}])
        self.assertEqual(a["Threshold"], {"Ref": "EventsIteratorAgeThresholdMs"})
        threshold = self.t["Parameters"]["EventsIteratorAgeThresholdMs"]
        # Well under the stream's 24 hours, even at the largest value the parameter allows.
        self.assertLessEqual(threshold["Default"], STREAM_RETENTION_MS / 4)
        self.assertLessEqual(threshold["MaxValue"], STREAM_RETENTION_MS / 2)

    def test_table_purges_soft_deleted_users_by_ttl(self):
        # The store writes a soft-deleted user's purge time (epoch seconds) into `ttl`.
        p = self.res["ScimTable"]["Properties"]
        self.assertEqual(p["TimeToLiveSpecification"], {"AttributeName": "ttl", "Enabled": True})

    def test_least_privilege_matches_the_calls_the_code_makes(self):
        # Every DynamoDB operation the store's source names is granted, and nothing it does not name.
        sources = "".join(read(os.path.join("crates/scim-dynamodb/src", f))
                          for f in sorted(os.listdir(os.path.join(ROOT, "crates/scim-dynamodb/src")))
                          if f.endswith(".rs") and f != "table.rs")  # table.rs: create_table, for tests
        called = set(re.findall(r"\.(get_item|batch_get_item|query|update_item|transact_write_items|"
                                r"batch_write_item|describe_table|scan|put_item|delete_item)\(\)", sources))
        self.assertEqual(called, {"get_item", "batch_get_item", "query", "update_item", "transact_write_items",
                                  "put_item"})
        granted = {a for where, s in self.statements() if where.startswith("FunctionRole/table")
                   for a in as_list(s["Action"])}
        self.assertNotIn("dynamodb:BatchWriteItem", granted)
        self.assertNotIn("dynamodb:DescribeTable", granted)

    def test_token_registry_secret_has_no_literal_value(self):
        secret = self.res["TokenRegistrySecret"]
        self.assertEqual(secret["DeletionPolicy"], "Retain")
        self.assertEqual(secret["UpdateReplacePolicy"], "Retain")
        # A value in the template would be written back by any stack update that touches the secret,
        # replacing every token: the secret is created empty and only scimctl writes it.
        self.assertNotIn("SecretString", secret["Properties"])
        self.assertNotIn("GenerateSecretString", secret["Properties"])
        self.assertNotIn("SecretString", json.dumps(self.cfn_res["TokenRegistrySecret"]))

    # The calls that change what the registry holds or who may change it.
    REGISTRY_WRITES = {"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "DeleteSecret",
                       "RestoreSecret", "PutResourcePolicy", "DeleteResourcePolicy"}

    def test_token_registry_secret_policy_denies_all_but_the_writers(self):
        policy = self.res["TokenRegistrySecretPolicy"]
        self.assertEqual(policy["Type"], "AWS::SecretsManager::ResourcePolicy")
        self.assertNotIn("Condition", policy, "on in every deployment")
        p = policy["Properties"]
        self.assertEqual(p["SecretId"], {"Ref": "TokenRegistrySecret"})
        self.assertTrue(p["BlockPublicPolicy"])
        (statement,) = p["ResourcePolicy"]["Statement"]
        # Same-account principals write with their identity policies alone: only a Deny restricts them.
        self.assertEqual((statement["Effect"], statement["Principal"]), ("Deny", "*"))
        denied = {a.split(":", 1)[1] for a in statement["Action"]}
        self.assertLessEqual(self.REGISTRY_WRITES, denied)
        self.assertNotIn("GetSecretValue", denied, "the function reads it")
        condition = statement["Condition"]
        # CloudFormation acting for the deployer passes (a direct call has no aws:CalledVia, so the
        # denial applies to it); the two conditions must both hold for the denial.
        self.assertEqual(condition["ForAllValues:StringNotEquals"], {"aws:CalledVia": "cloudformation.amazonaws.com"})
        writers = condition["ArnNotLike"]["aws:PrincipalArn"]
        operators = {"Fn::GetAtt": ["OperatorsRole", "Arn"]}
        console = {"Fn::GetAtt": ["ConsoleFunctionRole", "Arn"]}
        # Default: the operators' role and the console function's.
        self.assertEqual(Evaluator(self.t, "eu-west-1").value(writers), [operators, console])
        # Further roles join them.
        more = "arn:aws:iam::123456789012:role/deploy,arn:aws:iam::123456789012:role/sso/*"
        joined = Evaluator(self.t, "eu-west-1", RegistryWriterRoleArns=more).value(writers)
        self.assertEqual(joined["Fn::Split"][0], ",")
        template, values = joined["Fn::Split"][1]["Fn::Sub"]
        self.assertEqual(template, "${Operators},${Console},${Others}")
        self.assertEqual((values["Operators"], values["Console"]), (operators, console))
        self.assertEqual(values["Others"], {"Fn::Join": [",", {"Ref": "RegistryWriterRoleArns"}]})
        self.assertNotIn("Path", self.res["ConsoleFunctionRole"]["Properties"], "aws:PrincipalArn is the role ARN")
        # The operators' role can be assumed from the account (whoever IAM lets), and is an output.
        trust = self.res["OperatorsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual([t["Action"] for t in trust], ["sts:AssumeRole"])
        self.assertEqual(self.t["Outputs"]["OperatorsRoleArn"]["Value"], operators)

    def test_every_registry_write_raises_an_alarm(self):
        rule = self.res["RegistryWriteRule"]["Properties"]
        pattern = rule["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.secretsmanager"])
        self.assertEqual(pattern["detail-type"], ["AWS API Call via CloudTrail"])
        self.assertEqual(pattern["detail"]["eventSource"], ["secretsmanager.amazonaws.com"])
        watched = set(pattern["detail"]["eventName"])
        self.assertLessEqual(self.REGISTRY_WRITES, watched)
        # What the resource policy denies is what the alarm watches.
        denied = {a.split(":", 1)[1] for a in
                  self.res["TokenRegistrySecretPolicy"]["Properties"]["ResourcePolicy"]["Statement"][0]["Action"]}
        self.assertEqual(watched, denied)
        # This secret only, named either way a caller can name it.
        ids = pattern["detail"]["requestParameters"]["secretId"]
        self.assertIn({"Fn::Sub": "${AWS::StackName}/token-registry"}, ids)
        self.assertIn({"prefix": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                             "${AWS::AccountId}:secret:${AWS::StackName}/token-registry"}}, ids)
        self.assertEqual(self.res["TokenRegistrySecret"]["Properties"]["Name"],
                         {"Fn::Sub": "${AWS::StackName}/token-registry"})
        self.assertEqual(rule["Targets"][0]["Arn"], {"Fn::GetAtt": ["RegistryWriteLogGroup", "Arn"]})
        self.assertIn("RegistryWriteLogGroup.Arn",
                      self.res["RegistryWriteLogGroupPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"])
        alarm = self.res["RegistryWriteAlarm"]["Properties"]
        self.assertEqual((alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]),
                         ("AWS/Events", "TriggeredRules", "Sum"))
        self.assertEqual(alarm["Dimensions"], [{"Name": "RuleName", "Value": {"Ref": "RegistryWriteRule"}}])
        self.assertEqual((alarm["Threshold"], alarm["ComparisonOperator"]), (1, "GreaterThanOrEqualToThreshold"))

    # --- The operators' console (infra/README.md, "The operators' console") ------------------------

    def console_env(self):
        return self.res["ConsoleFunction"]["Properties"]["Environment"]["Variables"]

    def test_console_user_pool_admin_created_accounts_with_mfa(self):
        pool = self.res["ConsoleUserPool"]
        # Kept like the table and the registry: it holds every operator's account and authenticator.
        self.assertEqual((pool["DeletionPolicy"], pool["UpdateReplacePolicy"]), ("Retain", "Retain"))
        p = pool["Properties"]
        self.assertEqual(p["DeletionProtection"], "ACTIVE")
        # Nobody signs themselves up.
        self.assertIs(p["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], True)
        self.assertEqual(p["UsernameAttributes"], ["email"])
        self.assertEqual(p["AccountRecoverySetting"]["RecoveryMechanisms"], [{"Name": "verified_email", "Priority": 1}])
        self.assertEqual(p["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"], ["email"])
        password = p["Policies"]["PasswordPolicy"]
        self.assertGreaterEqual(password["MinimumLength"], 12)
        for kind in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"):
            self.assertIs(password[kind], True, kind)
        # TOTP only (no SMS to configure or to intercept), on unless the stack says OPTIONAL.
        self.assertEqual(p["MfaConfiguration"], {"Ref": "ConsoleMfa"})
        self.assertEqual(p["EnabledMfas"], ["SOFTWARE_TOKEN_MFA"])
        mfa = self.t["Parameters"]["ConsoleMfa"]
        self.assertEqual((mfa["Default"], mfa["AllowedValues"]), ("ON", ["ON", "OPTIONAL"]))

    def test_console_hosted_ui_domain(self):
        domain = self.res["ConsoleUserPoolDomain"]["Properties"]
        self.assertEqual(domain["UserPoolId"], {"Ref": "ConsoleUserPool"})
        # Default: derived from the stack id's uuid, unique and valid for Cognito.
        derived = Evaluator(self.t, "eu-west-1").value(domain["Domain"])
        self.assertEqual(derived, "scim-console-51af3dc0-da77-11e4-872e-1234567db123")
        self.assertTrue(COGNITO_DOMAIN_PREFIX.fullmatch(derived), derived)
        for word in COGNITO_RESERVED_WORDS:
            self.assertNotIn(word, derived)
        # A prefix of one's own wins.
        self.assertEqual(Evaluator(self.t, "eu-west-1", ConsoleAuthDomainPrefix="acme-scim").value(domain["Domain"]),
                         "acme-scim")
        pattern = re.compile(self.t["Parameters"]["ConsoleAuthDomainPrefix"]["AllowedPattern"])
        for good in ("", "acme-scim", "a", "x" * 63):
            self.assertTrue(pattern.fullmatch(good), good)
        for bad in ("Acme", "-acme", "acme-", "acme.scim", "x" * 64):
            self.assertFalse(pattern.fullmatch(bad), bad)
        self.assertEqual(self.t["Outputs"]["ConsoleHostedUiDomain"]["Value"],
                         {"Fn::Sub": "${ConsoleUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"})

    def test_console_client_is_a_public_code_flow_client_for_this_distribution(self):
        p = self.res["ConsoleUserPoolClient"]["Properties"]
        self.assertEqual(p["UserPoolId"], {"Ref": "ConsoleUserPool"})
        # Public: no secret to keep; the console proves itself with PKCE.
        self.assertIs(p["GenerateSecret"], False)
        self.assertIs(p["AllowedOAuthFlowsUserPoolClient"], True)
        self.assertEqual(p["AllowedOAuthFlows"], ["code"])
        self.assertEqual(set(p["AllowedOAuthScopes"]), {"openid", "email", "profile"})
        self.assertNotIn("ALLOW_USER_PASSWORD_AUTH", p["ExplicitAuthFlows"])
        self.assertNotIn("ALLOW_CUSTOM_AUTH", p["ExplicitAuthFlows"])
        self.assertEqual((p["IdTokenValidity"], p["TokenValidityUnits"]["IdToken"]), (60, "minutes"))
        self.assertEqual(p["PreventUserExistenceErrors"], "ENABLED")
        self.assertIs(p["EnableTokenRevocation"], True)
        # The callback and the page after sign-out, on every host the distribution answers as (the
        # console returns the browser to the host it was called on); the console's URL and the
        # sign-out's way back use the custom domain when there is one.
        distribution = "${Distribution.DomainName}"
        for params, hosts in (({}, [distribution]),
                              ({"CustomDomainName": "scim.example.com",
                                "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/1"},
                               ["${CustomDomainName}", distribution])):
            e = Evaluator(self.t, "eu-west-1", **params)
            self.assertEqual(e.present(p["CallbackURLs"]), [{"Fn::Sub": f"https://{h}/admin/callback"} for h in hosts])
            self.assertEqual(e.present(p["LogoutURLs"]), [{"Fn::Sub": f"https://{h}/admin/"} for h in hosts])
            self.assertEqual(e.value(self.t["Outputs"]["ConsoleUrl"]["Value"]), {"Fn::Sub": f"https://{hosts[0]}/admin/"})
            back = e.value(self.console_env()["SCIM_CONSOLE_OIDC_LOGOUT_URL"]["Fn::Sub"][1]["Back"])
            self.assertEqual(back, {"Fn::Sub": f"https://{hosts[0]}/admin/"}, "a logout URL of the client")
        # The callback is under the /admin* behaviour, so it reaches the console.
        self.assertTrue(fnmatch.fnmatchcase("/admin/callback", self.admin_behaviour()["PathPattern"]))

    def test_console_operators_group_is_the_one_the_function_checks(self):
        group = self.res["ConsoleOperatorsGroup"]
        self.assertEqual(group["Type"], "AWS::Cognito::UserPoolGroup")
        self.assertEqual(group["Properties"]["UserPoolId"], {"Ref": "ConsoleUserPool"})
        self.assertEqual(group["Properties"]["GroupName"], "scim-operators")
        env = self.console_env()
        self.assertEqual(env["SCIM_CONSOLE_OPERATOR_GROUP"], group["Properties"]["GroupName"])
        self.assertEqual(env["SCIM_CONSOLE_TENANT_GROUP_PREFIX"], "scim-tenant-")
        # Cognito puts a user's groups in this claim of the ID token.
        self.assertEqual(env["SCIM_CONSOLE_GROUPS_CLAIM"], "cognito:groups")

    def test_console_function_is_the_same_binary_with_its_own_role(self):
        f = self.res["ConsoleFunction"]
        http = self.res["ScimFunction"]
        self.assertEqual(f["Metadata"], http["Metadata"])
        for key in ("CodeUri", "Handler", "Runtime", "Architectures", "Layers"):
            self.assertEqual(f["Properties"][key], http["Properties"][key], key)
        p = f["Properties"]
        # Below the HTTP API's 30 s integration limit.
        self.assertLessEqual(p["Timeout"], 29)
        self.assertEqual(p["Role"], {"Fn::GetAtt": ["ConsoleFunctionRole", "Arn"]})
        self.assertEqual(p["LoggingConfig"]["LogGroup"], {"Ref": "ConsoleFunctionLogGroup"})
        self.assertEqual(self.res["ConsoleFunctionLogGroup"]["Properties"]["LogGroupName"],
                         {"Fn::Sub": "/aws/lambda/${AWS::StackName}-scim-console"})
        env = self.console_env()
        self.assertEqual(env["SCIM_FUNCTION"], "console")
        self.assertEqual(env["SCIM_STORE"], "dynamodb")
        # The same store, registry, secrets, extensions and public URL as the SCIM function.
        scim_env = http["Properties"]["Environment"]["Variables"]
        for variable in ("SCIM_TABLE", "SCIM_TOKEN_REGISTRY", "SCIM_ORIGIN_SECRET_ID", "SCIM_CURSOR_KEY_SECRET_ID",
                         "SCIM_SCHEMA_EXTENSIONS", "SCIM_PUBLIC_BASE_URL"):
            self.assertEqual(env[variable], scim_env[variable], variable)
        # Its OpenID Connect provider: this stack's user pool (Cognito's issuer URL) and client.
        self.assertEqual(env["SCIM_CONSOLE_OIDC_ISSUER"],
                         {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${ConsoleUserPool}"})
        self.assertEqual(env["SCIM_CONSOLE_OIDC_CLIENT_ID"], {"Ref": "ConsoleUserPoolClient"})
        # Signing out goes on to the hosted sign-in's /logout, back to a logout URL of the client.
        logout, names = env["SCIM_CONSOLE_OIDC_LOGOUT_URL"]["Fn::Sub"]
        self.assertTrue(logout.startswith("https://${ConsoleUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/logout?"))
        self.assertIn("client_id=${ConsoleUserPoolClient}", logout)
        self.assertEqual(env["SCIM_TOKEN_EXPIRY_WARNING_DAYS"], {"Ref": "TokenExpiryWarningDays"})
        self.assertNotIn("{{resolve:", json.dumps(env), "no secret value in the function's configuration")
        self.assertNotIn("SCIM_BOOTSTRAP_TOKEN", env)

    def registry_grants(self):
        """Each role's actions on the token registry secret."""
        grants = {}
        for where, s in self.statements():
            if {"Ref": "TokenRegistrySecret"} in as_list(s.get("Resource", [])):
                grants.setdefault(where.split("/")[0], set()).update(as_list(s["Action"]))
        return grants

    def test_console_role_writes_the_registry_and_the_idp_functions_role_cannot(self):
        grants = self.registry_grants()
        writes = {"secretsmanager:PutSecretValue"}
        self.assertLessEqual(writes, grants["ConsoleFunctionRole"])
        self.assertEqual(grants["ConsoleFunctionRole"], grants["OperatorsRole"])
        # The function the IdPs reach only reads it; so does the silence watcher.
        self.assertEqual(grants["FunctionRole"], {"secretsmanager:GetSecretValue"})
        self.assertEqual(grants["SilenceWatchRole"], {"secretsmanager:GetSecretValue"})
        self.assertEqual({role for role, actions in grants.items() if actions & writes},
                         {"OperatorsRole", "ConsoleFunctionRole"})

    def test_console_role_uses_the_table_as_the_scim_function_does(self):
        def table_grants(role):
            return {(a, json.dumps(r)) for where, s in self.statements() if where.startswith(f"{role}/table")
                    for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
        console, scim = table_grants("ConsoleFunctionRole"), table_grants("FunctionRole")
        # Everything the store does, plus the provisioning log by resource (as scimctl reads it).
        self.assertEqual(console - scim, {("dynamodb:Query", json.dumps({"Fn::Sub": "${ScimTable.Arn}/index/by_resource"}))})
        self.assertEqual(scim - console, set())

    def test_console_routes_in_the_api_and_scim_routes_unchanged(self):
        body = self.of_type("AWS::ApiGatewayV2::Api")["ScimHttpApi"]["Properties"]["Body"]
        paths = body["paths"]

        def target(path):
            integration = paths[path]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
            self.assertEqual((integration["type"], integration["payloadFormatVersion"]), ("aws_proxy", "2.0"))
            return integration["uri"]["Fn::Sub"]

        # The console's routes name its function by ARN, from the name the function is given.
        name = self.res["ConsoleFunction"]["Properties"]["FunctionName"]["Fn::Sub"]
        console_arn = f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"
        for path in ("/admin", "/admin/{proxy+}"):
            self.assertEqual(target(path), "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                                           f"functions/{console_arn}/invocations", path)
        for path in ("/scim/v2", "/scim/v2/{proxy+}"):
            self.assertIn("${ScimFunction.Arn}", target(path), path)
        # No routes or integrations as resources of their own: re-importing the definition, as CloudFormation
        # does when it changes, would delete them from the API behind CloudFormation's back.
        self.assertEqual(self.of_type("AWS::ApiGatewayV2::Route"), {})
        self.assertEqual(self.of_type("AWS::ApiGatewayV2::Integration"), {})
        permission = self.res["ConsoleFunctionApiPermission"]["Properties"]
        self.assertEqual((permission["Action"], permission["FunctionName"], permission["Principal"]),
                         ("lambda:InvokeFunction", {"Ref": "ConsoleFunction"}, "apigateway.amazonaws.com"))
        self.assertEqual(permission["SourceArn"], {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                                                              "${AWS::AccountId}:${ScimHttpApi}/*/*/admin*"})

    def test_admin_behaviour(self):
        b = self.admin_behaviour()
        for path in ("/admin", "/admin/", "/admin/callback", "/admin/tenants/acme"):
            self.assertTrue(fnmatch.fnmatchcase(path, b["PathPattern"]), path)
        self.assertFalse(fnmatch.fnmatchcase("/scim/v2/Users", b["PathPattern"]))
        self.assertEqual(b["TargetOriginId"], "scim-api")
        self.assertEqual(b["CachePolicyId"], CACHING_DISABLED)
        # Cookies, query strings and every header but Host (the managed policy).
        self.assertEqual(b["OriginRequestPolicyId"], ALL_VIEWER_EXCEPT_HOST)
        self.assertNotIn("ForwardedValues", b)
        self.assertEqual(b["ViewerProtocolPolicy"], "redirect-to-https")
        self.assertEqual(set(b["AllowedMethods"]), {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"})
        self.assertEqual(b["FunctionAssociations"], [{"EventType": "viewer-request",
                                                      "FunctionARN": {"Fn::GetAtt": ["ViewerHostFunction", "FunctionARN"]}}])

    def test_console_federation_only_when_its_parameters_are_set(self):
        saml, oidc = self.res["ConsoleSamlProvider"], self.res["ConsoleOidcProvider"]
        self.assertEqual((saml["Condition"], oidc["Condition"]), ("HasConsoleSaml", "HasConsoleOidc"))
        providers = self.res["ConsoleUserPoolClient"]["Properties"]["SupportedIdentityProviders"]
        saml_params = {"ConsoleSamlMetadataUrl": "https://idp.example.com/metadata.xml"}
        oidc_params = {"ConsoleOidcIssuer": "https://idp.example.com", "ConsoleOidcClientId": "scim-console",
                       "ConsoleOidcClientSecret": "s3cret"}
        for params, want in (({}, ["COGNITO"]),
                             (saml_params, ["COGNITO", {"Ref": "ConsoleSamlProvider"}]),
                             (oidc_params, ["COGNITO", {"Ref": "ConsoleOidcProvider"}]),
                             ({**saml_params, **oidc_params},
                              ["COGNITO", {"Ref": "ConsoleSamlProvider"}, {"Ref": "ConsoleOidcProvider"}])):
            # us-east-1: the one region where the defaults pass every rule (WAF).
            e = Evaluator(self.t, "us-east-1", **params)
            self.assertEqual(e.present(providers), want, params)
            self.assertEqual((e.condition("HasConsoleSaml"), e.condition("HasConsoleOidc")),
                             ("ConsoleSamlMetadataUrl" in params, "ConsoleOidcIssuer" in params))
            self.assertEqual(e.failed_rules(), [], params)
        # An issuer without the client Cognito uses there is refused before anything changes.
        (failed,) = Evaluator(self.t, "us-east-1", ConsoleOidcIssuer="https://idp.example.com").failed_rules()
        self.assertIn("ConsoleOidcClientId", failed)
        self.assertIs(self.t["Parameters"]["ConsoleOidcClientSecret"]["NoEcho"], True)
        # Both map the email address and the name, nothing else: groups stay in Cognito.
        self.assertEqual(saml["Properties"]["ProviderDetails"], {"MetadataURL": {"Ref": "ConsoleSamlMetadataUrl"}})
        self.assertEqual(set(saml["Properties"]["AttributeMapping"]), {"email", "name"})
        self.assertEqual(oidc["Properties"]["AttributeMapping"], {"email": "email", "name": "name"})
        details = oidc["Properties"]["ProviderDetails"]
        self.assertEqual((details["oidc_issuer"], details["client_id"], details["client_secret"]),
                         ({"Ref": "ConsoleOidcIssuer"}, {"Ref": "ConsoleOidcClientId"}, {"Ref": "ConsoleOidcClientSecret"}))

    def test_no_dependency_cycle(self):
        # The console closes a loop if the API refers to its function: API -> console function -> client
        # (the function's client id) -> distribution (the client's callback URL) -> API (the origin).
        # cfn-lint finds such a cycle (E3004) in the expanded template, not in the SAM source, so the
        # check runs on the expanded one; and it must find the loop that SAM HttpApi events would make.
        self.assertEqual(self.cycles(self.cfn), [])
        looped = json.loads(json.dumps(self.cfn))
        admin = looped["Resources"]["ScimHttpApi"]["Properties"]["Body"]["paths"]["/admin"]
        admin["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]["uri"] = {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                       "functions/${ConsoleFunction.Arn}/invocations"}
        self.assertIn("Circular dependency with [ConsoleFunction]", "\n".join(self.cycles(looped)))

    def cycles(self, template):
        return [m.message for m in lint(json.dumps(template)) if m.rule.id == "E3004"]

    # --- Observability ---------------------------------------------------------------------------

    def test_alarms(self):
        alarms = self.of_type("AWS::CloudWatch::Alarm", self.res)
        metrics = set()
        for a in alarms.values():
            p = a["Properties"]
            if "MetricName" in p:
                metrics.add((p["Namespace"], p["MetricName"]))
            for m in p.get("Metrics", []):
                if "MetricStat" in m:
                    metrics.add((m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"]))
        for want in [("AWS/ApiGateway", "5xx"), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                     ("ScimService", "Latency"), ("AWS/DynamoDB", "ReadThrottleEvents"),
                     ("AWS/DynamoDB", "WriteThrottleEvents")]:
            self.assertIn(want, metrics)
        self.assertEqual(self.res["LatencyP99Alarm"]["Properties"]["ExtendedStatistic"], "p99")
        for name, a in alarms.items():
            self.assertEqual(a["Properties"]["AlarmActions"]["Fn::If"][0], "HasAlarmTopic", name)

    def test_registry_read_failures_alarm(self):
        a = self.res["RegistryReadFailuresAlarm"]["Properties"]
        # The EMF metric the function writes: namespace ScimService, no dimensions.
        self.assertEqual((a["Namespace"], a["MetricName"], a["Statistic"]),
                         ("ScimService", "RegistryReadFailures", "Sum"))
        self.assertNotIn("Dimensions", a)
        self.assertEqual((a["Threshold"], a["ComparisonOperator"]), (1, "GreaterThanOrEqualToThreshold"))

    def test_dashboard_uses_the_metrics_the_function_emits(self):
        body_sub = self.res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_sub))
        titles = [w["properties"]["title"] for w in body["widgets"]]
        for want in ["Requests by operation", "Responses by status class", "Latency (ms)",
                     "DynamoDB calls by operation, and store calls"]:
            self.assertIn(want, titles)
        # Namespace, metric and dimension names agree with the Rust code that writes the EMF lines.
        telemetry = read("crates/scim-lambda/src/telemetry.rs")
        self.assertIn('METRICS_NAMESPACE: &str = "ScimService"', telemetry)
        for name in ["Latency", "Requests", "StoreCalls", "Operation", "StatusClass"]:
            self.assertIn(f'"{name}"', telemetry)
            self.assertIn(name, body_sub)

    # --- Token expiry and silence alarms (infra/README.md) ------------------------------------------

    def alarm_topic_actions(self, alarm):
        for key in ("AlarmActions", "OKActions"):
            self.assertEqual(alarm[key], {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}],
                                                     {"Ref": "AWS::NoValue"}]}, key)

    def test_provisioning_log_loss_alarm(self):
        a = self.res["ProvisioningLogLossAlarm"]["Properties"]
        metrics = {m["Id"]: m for m in a["Metrics"]}
        watched = {m["MetricStat"]["Metric"]["MetricName"] for m in a["Metrics"] if "MetricStat" in m}
        # Both ways of losing a record, under the names the writer counts them by.
        self.assertEqual(watched, {"LogRecordsDropped", "LogWriteFailures"})
        writer = read("crates/scim-lambda/src/provisioning_log.rs")
        for name in watched:
            self.assertIn(f'"{name}"', writer)
        for m in a["Metrics"]:
            if "MetricStat" in m:
                self.assertEqual(m["MetricStat"]["Metric"]["Namespace"], "ScimService")
                self.assertEqual(m["MetricStat"]["Stat"], "Sum")
        self.assertTrue(metrics["lost"]["ReturnData"])
        self.assertEqual((a["Threshold"], a["ComparisonOperator"], a["TreatMissingData"]),
                         (0, "GreaterThanThreshold", "notBreaching"))
        self.alarm_topic_actions(a)

    def test_token_expiry_alarm(self):
        a = self.res["TokenExpiryAlarm"]["Properties"]
        # The EMF metric the SCIM function writes for each token in use: ScimService, no dimensions.
        self.assertEqual((a["Namespace"], a["MetricName"], a["Statistic"]),
                         ("ScimService", "TokenDaysToExpiry", "Minimum"))
        self.assertNotIn("Dimensions", a)
        self.assertEqual((a["Period"], a["EvaluationPeriods"]), (3600, 1))
        self.assertEqual((a["Threshold"], a["ComparisonOperator"]),
                         ({"Ref": "TokenExpiryWarningDays"}, "LessThanThreshold"))
        # No token in use, no data: nothing is about to break.
        self.assertEqual(a["TreatMissingData"], "notBreaching")
        self.alarm_topic_actions(a)
        param = self.t["Parameters"]["TokenExpiryWarningDays"]
        self.assertEqual((param["Type"], param["Default"], param["MinValue"]), ("Number", 14, 1))
        # The description says where to find the token: the EMF lines' Tenant and TokenId, in the
        # SCIM function's log group.
        description = a["AlarmDescription"]["Fn::Sub"]
        for words in ("Logs Insights", "/aws/lambda/${AWS::StackName}-scim ", "Tenant", "TokenId"):
            self.assertIn(words, description)
        self.assertEqual(self.res["FunctionLogGroup"]["Properties"]["LogGroupName"],
                         {"Fn::Sub": "/aws/lambda/${AWS::StackName}-scim"})
        # The names the function writes them under.
        writer = read("crates/scim-lambda/src/provisioning_log.rs")
        self.assertIn('TOKEN_DAYS_TO_EXPIRY: &str = "TokenDaysToExpiry"', writer)
        for name in ('"Tenant"', '"TokenId"'):
            self.assertIn(name, writer)

    def test_tenant_silence_alarm(self):
        a = self.res["TenantSilenceAlarm"]["Properties"]
        self.assertEqual((a["Namespace"], a["MetricName"], a["Statistic"]),
                         ("ScimService", "SilentTenants", "Maximum"))
        self.assertNotIn("Dimensions", a)
        self.assertEqual((a["Period"], a["EvaluationPeriods"]), (900, 1))
        self.assertEqual((a["Threshold"], a["ComparisonOperator"]), (1, "GreaterThanOrEqualToThreshold"))
        self.assertEqual(a["TreatMissingData"], "notBreaching")
        self.alarm_topic_actions(a)
        # The names the watcher writes: the metric, and the log line naming each silent tenant.
        watch = read("crates/scim-lambda/src/watch.rs")
        self.assertIn('SILENT_TENANTS: &str = "SilentTenants"', watch)
        self.assertIn('SILENT_TENANT_MESSAGE: &str = "tenant silent"', watch)
        description = a["AlarmDescription"]["Fn::Sub"]
        self.assertIn("/aws/lambda/${AWS::StackName}-scim-silence-watch", description)
        self.assertIn("tenant silent", description)
        self.assertEqual(self.res["SilenceWatchLogGroup"]["Properties"]["LogGroupName"],
                         {"Fn::Sub": "/aws/lambda/${AWS::StackName}-scim-silence-watch"})
        # A watcher that fails writes no data point, which the silence alarm reads as "fine": its
        # own Errors alarm says so instead.
        errors = self.res["SilenceWatchErrorsAlarm"]["Properties"]
        self.assertEqual((errors["Namespace"], errors["MetricName"], errors["Statistic"]),
                         ("AWS/Lambda", "Errors", "Sum"))
        self.assertEqual(errors["Dimensions"], [{"Name": "FunctionName", "Value": {"Ref": "SilenceWatchFunction"}}])
        self.assertEqual((errors["Threshold"], errors["ComparisonOperator"]), (0, "GreaterThanThreshold"))
        self.alarm_topic_actions(errors)

    def test_silence_watcher_is_the_same_binary_every_15_minutes(self):
        f = self.res["SilenceWatchFunction"]
        http = self.res["ScimFunction"]
        self.assertEqual(f["Metadata"], http["Metadata"])
        for key in ("CodeUri", "Handler", "Runtime", "Architectures"):
            self.assertEqual(f["Properties"][key], http["Properties"][key], key)
        env = f["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["SCIM_FUNCTION"], "watch")
        for variable in ("SCIM_TABLE", "SCIM_TOKEN_REGISTRY"):
            self.assertEqual(env[variable], http["Properties"]["Environment"]["Variables"][variable], variable)
        self.assertIn('Some("watch")', read("crates/scim-lambda/src/config.rs"))
        # One run at a time; its own role and log group.
        self.assertEqual(f["Properties"]["ReservedConcurrentExecutions"], 1)
        self.assertEqual(f["Properties"]["Role"], {"Fn::GetAtt": ["SilenceWatchRole", "Arn"]})
        self.assertEqual(f["Properties"]["LoggingConfig"]["LogGroup"], {"Ref": "SilenceWatchLogGroup"})
        # The schedule, as SAM expands it: one rule invoking this function, allowed to.
        (rule_name, rule), = [(k, r) for k, r in self.of_type("AWS::Events::Rule").items()
                              if "ScheduleExpression" in r["Properties"]]
        self.assertEqual(rule["Properties"]["ScheduleExpression"], "rate(15 minutes)")
        self.assertEqual([t["Arn"] for t in rule["Properties"]["Targets"]],
                         [{"Fn::GetAtt": ["SilenceWatchFunction", "Arn"]}])
        permissions = [p["Properties"] for p in self.of_type("AWS::Lambda::Permission").values()
                       if p["Properties"].get("SourceArn") == {"Fn::GetAtt": [rule_name, "Arn"]}]
        self.assertEqual(permissions, [{"Action": "lambda:InvokeFunction",
                                        "FunctionName": {"Ref": "SilenceWatchFunction"},
                                        "Principal": "events.amazonaws.com",
                                        "SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}])

    def test_silence_watcher_reads_only_what_it_needs(self):
        granted = {}
        for where, s in self.statements():
            if where.startswith("SilenceWatchRole/"):
                self.assertEqual(s["Effect"], "Allow", where)
                for action in as_list(s["Action"]):
                    self.assertNotIn("*", action, f"{where}: wildcard action {action}")
                    granted.setdefault(action, []).extend(as_list(s["Resource"]))
        self.assertEqual(granted, {
            "logs:CreateLogStream": [{"Fn::GetAtt": ["SilenceWatchLogGroup", "Arn"]}],
            "logs:PutLogEvents": [{"Fn::GetAtt": ["SilenceWatchLogGroup", "Arn"]}],
            "dynamodb:GetItem": [{"Fn::GetAtt": ["ScimTable", "Arn"]}],
            "dynamodb:Query": [{"Fn::GetAtt": ["ScimTable", "Arn"]}],
            "secretsmanager:GetSecretValue": [{"Ref": "TokenRegistrySecret"}],
        })

    def test_events_stream_skips_operator_records(self):
        (mapping,) = self.of_type("AWS::Lambda::EventSourceMapping").values()
        filters = mapping["Properties"]["FilterCriteria"]["Filters"]
        self.assertEqual([json.loads(f["Pattern"]) for f in filters],
                         [{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "T#"}]}}}}])
        # Every partition change events come from starts with "T#" (users, groups, memberships, kept
        # and unmanaged users); the log and token uses live under "L#".
        keys = read("crates/scim-dynamodb/src/keys.rs")
        for partition in ("USERS", "GROUPS", "M#{group_id}", "DELETED", "UNMANAGED"):
            self.assertIn(f'format!("T#{{tenant}}#{partition}")', keys)
        self.assertNotRegex(keys, r'format!\("L#\{tenant\}#(USERS|GROUPS|M#|DELETED|UNMANAGED)')

    def test_outputs(self):
        outputs = self.t["Outputs"]
        for name in ["ScimBaseUrl", "TableName", "TokenRegistrySecretArn", "FunctionName"]:
            self.assertIn(name, outputs)
        self.assertEqual(outputs["EventBusName"]["Value"], {"Ref": "EventBus"})
        self.assertEqual(outputs["EventBusArn"]["Value"], {"Fn::GetAtt": ["EventBus", "Arn"]})
        self.assertEqual(outputs["EventsDeadLetterQueueUrl"]["Value"], {"Ref": "EventsDeadLetterQueue"})
        url = outputs["ScimBaseUrl"]["Value"]["Fn::If"]
        self.assertEqual(url[1], {"Fn::Sub": "https://${CustomDomainName}/scim/v2"})
        self.assertEqual(url[2], {"Fn::Sub": "https://${Distribution.DomainName}/scim/v2"})
        self.assertEqual(outputs["ConsoleUserPoolId"]["Value"], {"Ref": "ConsoleUserPool"})
        for name in ("ConsoleUrl", "ConsoleHostedUiDomain"):
            self.assertIn(name, outputs)


class ViewerHostFunctionTest(unittest.TestCase):
    """Runs the CloudFront Function's code (cloudfront-js-2.0 is ECMAScript 5.1 plus some of ES6)
    under Node.js with CloudFront's documented viewer-request event shape."""

    def run_function(self, headers):
        node = shutil.which("node")
        # A missing node fails rather than skips: the function would go untested.
        self.assertTrue(node, "node is needed to run the CloudFront Function")
        code = plain(load(TEMPLATE))["Resources"]["ViewerHostFunction"]["Properties"]["FunctionCode"]
        event = {
            "version": "1.0",
            "context": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                        "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
            "viewer": {"ip": "198.51.100.11"},
            "request": {"method": "GET", "uri": "/scim/v2/Users", "querystring": {},
                        "headers": headers, "cookies": {}},
        }
        script = code + "\nprocess.stdout.write(JSON.stringify(handler(JSON.parse(process.argv[1]))));"
        out = subprocess.run([node, "-e", script, json.dumps(event)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def test_copies_viewer_host_into_our_own_header(self):
        req = self.run_function({"host": {"value": "d111111abcdef8.cloudfront.net"},
                                 "authorization": {"value": "Bearer SCIM_x"}})
        self.assertEqual(req["headers"][PUBLIC_HOST_HEADER], {"value": "d111111abcdef8.cloudfront.net"})
        self.assertEqual(req["headers"]["authorization"], {"value": "Bearer SCIM_x"})
        self.assertEqual(req["uri"], "/scim/v2/Users")
        # Not X-Forwarded-Host, which API Gateway reserves.
        self.assertNotIn("x-forwarded-host", req["headers"])
        # The header name the Rust code reads.
        self.assertIn(f'PUBLIC_HOST_HEADER: &str = "{PUBLIC_HOST_HEADER}"', read("crates/scim-lambda/src/origin.rs"))

    def test_passes_the_viewer_address_whatever_the_client_sent(self):
        req = self.run_function({"host": {"value": "scim.example.com"},
                                 "x-forwarded-for": {"value": "192.0.2.66"},
                                 "x-scim-viewer-address": {"value": "192.0.2.66"}})
        self.assertEqual(req["headers"]["x-scim-viewer-address"], {"value": "198.51.100.11"})
        self.assertIn('VIEWER_ADDRESS_HEADER: &str = "x-scim-viewer-address"',
                      read("crates/scim-lambda/src/telemetry.rs"))

    def test_replaces_a_client_supplied_public_host(self):
        req = self.run_function({"host": {"value": "scim.example.com"},
                                 PUBLIC_HOST_HEADER: {"value": "evil.example"}})
        self.assertEqual(req["headers"][PUBLIC_HOST_HEADER], {"value": "scim.example.com"})


if __name__ == "__main__":
    unittest.main()
