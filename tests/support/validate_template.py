"""Validates a SAM template offline: expands it into plain CloudFormation with
aws-sam-translator, then runs cfn-lint on the result.

`sam validate --lint` and cfn-lint on the SAM source do not look inside SAM resources (a bad
Runtime or a broken !Ref inside a function passes them); the expanded template has nothing left
to hide, so this catches those too (see TOOLCHAIN.md, "template validation").

Usage: python validate_template.py path/to/template.yaml [--region us-east-1] [--print]
Exit status: 0 valid (warnings are printed), 1 invalid, 2 tooling missing or bad usage.
"""

import argparse
import json
import os
import sys

# Where a SAM resource keeps a local path that `sam package` would upload.
LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
PLACEHOLDER = "s3://chatsource-validation/placeholder.zip"


def fail(message, status=1):
    print(f"validate_template: {message}", file=sys.stderr)
    sys.exit(status)


def replace_local_uris(template):
    """Points local code paths at an S3 placeholder, as `sam package` would, so the
    translator (which only knows S3 locations) accepts them."""

    def is_local(value):
        return isinstance(value, str) and not value.startswith("s3://")

    globals_function = template.get("Globals", {}).get("Function", {})
    if is_local(globals_function.get("CodeUri")):
        globals_function["CodeUri"] = PLACEHOLDER
    for resource in (template.get("Resources") or {}).values():
        prop = LOCAL_URIS.get(resource.get("Type")) if isinstance(resource, dict) else None
        properties = resource.get("Properties") if prop else None
        if isinstance(properties, dict) and is_local(properties.get(prop)):
            properties[prop] = PLACEHOLDER


class NoManagedPolicies:
    """Offline stand-in for the IAM lookup of managed policy names: none are known, so a
    policy given by name (rather than ARN or statements) shows up in cfn-lint's findings."""

    def load(self):
        return {}


def translate(path, region):
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.transform import transform
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as e:
        fail(f"aws-sam-translator is not installed for {sys.executable} ({e}); "
             "run scripts/test, or pip install aws-sam-translator cfn-lint", 2)

    # The translator derives partition and ARNs from the boto3 region: fix it, so the result
    # does not depend on the developer's AWS configuration.
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region

    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    if not isinstance(template, dict):
        fail(f"{path}: not a template (a YAML mapping was expected)")
    replace_local_uris(template)
    try:
        return transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        causes = "\n".join(f"  - {cause.message}" for cause in e.causes)
        fail(f"{path}: SAM could not expand the template:\n{causes}")
    except Exception as e:  # the translator raises plain errors on some malformed input
        fail(f"{path}: SAM could not expand the template: {type(e).__name__}: {e}")


def lint(cloudformation, path, region):
    # Imported only now: cfn-lint patches samtranslator's resource validation when imported,
    # which would weaken the translation above.
    try:
        from cfnlint.api import ManualArgs, lint as cfn_lint
    except ImportError as e:
        fail(f"cfn-lint is not installed for {sys.executable} ({e}); "
             "run scripts/test, or pip install aws-sam-translator cfn-lint", 2)

    matches = cfn_lint(json.dumps(cloudformation, indent=1),
                       config=ManualArgs(regions=[region]))
    errors = [m for m in matches if m.rule.severity.lower() == "error"]
    for m in matches:
        where = "/".join(str(p) for p in getattr(m, "path", []) or [])
        print(f"{m.rule.severity.upper()} {m.rule.id} {where}: {m.message}", file=sys.stderr)
    if errors:
        fail(f"{path}: cfn-lint found {len(errors)} error(s) in the expanded template")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--print", action="store_true",
                        help="print the expanded CloudFormation template")
    args = parser.parse_args()
    if not os.path.isfile(args.template):
        fail(f"{args.template}: no such file", 2)

    cloudformation = translate(args.template, args.region)
    if args.print:
        print(json.dumps(cloudformation, indent=2))
    lint(cloudformation, args.template, args.region)
    print(f"{args.template}: valid ({len(cloudformation.get('Resources', {}))} CloudFormation resources)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
