//! Estimated AWS cost per million operations: a pure function from what the bench measured
//! (duration, DynamoDB request units, response size) and the deployment (template.yaml's Lambda
//! memory and API type) to dollars, at the list prices below. docs/cost.md explains the model
//! and carries the table from a run.

use crate::capacity::RequestUnits;
use std::fmt::Write as _;

/// Published on-demand list prices, USD, for us-east-1, without free tiers or volume discounts
/// (each is the first tier). Read on 2026-12-06 from the AWS pricing pages named on each field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// When the prices were read, printed with every table.
    pub taken: &'static str,
    /// aws.amazon.com/lambda/pricing: Arm, per GB-second (first 7.5 billion GB-s a month).
    pub lambda_arm_gb_second: f64,
    /// aws.amazon.com/lambda/pricing: per million requests.
    pub lambda_million_requests: f64,
    /// aws.amazon.com/dynamodb/pricing/on-demand: per million read request units (Standard).
    pub dynamodb_million_reads: f64,
    /// aws.amazon.com/dynamodb/pricing/on-demand: per million write request units (Standard).
    pub dynamodb_million_writes: f64,
    /// aws.amazon.com/api-gateway/pricing: HTTP APIs, per million requests (first 300 million),
    /// each 512 KB of a request or response counting as one request.
    pub http_api_million_requests: f64,
    /// aws.amazon.com/api-gateway/pricing: REST APIs, per million requests (first 333 million).
    pub rest_api_million_requests: f64,
    /// aws.amazon.com/cloudfront/pricing: HTTPS requests, United States, Mexico and Canada,
    /// per 10,000.
    pub cloudfront_https_per_10k: f64,
    /// aws.amazon.com/cloudfront/pricing: data transfer out to the internet, United States,
    /// Mexico and Canada, first 10 TB a month, per GB.
    pub cloudfront_gb_out: f64,
}

/// The prices the bench uses (`make bench` prints the date with the table).
pub const US_EAST_1: Prices = Prices {
    taken: "2026-12-06",
    lambda_arm_gb_second: 0.000_013_333_4,
    lambda_million_requests: 0.20,
    dynamodb_million_reads: 0.125,
    dynamodb_million_writes: 0.625,
    http_api_million_requests: 1.00,
    rest_api_million_requests: 3.50,
    cloudfront_https_per_10k: 0.0100,
    cloudfront_gb_out: 0.085,
};

/// The API Gateway flavour in front of the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiType {
    Http,
    Rest,
}

/// What of the deployment the cost depends on, read from template.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The SCIM function's memory (the `MemorySize` parameter's default), in MB.
    pub memory_mb: u32,
    pub api: ApiType,
}

/// The `MemorySize` parameter's `Default` and the API type of a SAM template (text: the bench
/// reads the template it was built with, and a YAML parser for two fields is not worth one).
pub fn deployment_of(template: &str) -> Result<Deployment, String> {
    let mut lines = template.lines().skip_while(|l| l.trim_end() != "  MemorySize:");
    lines.next().ok_or("template.yaml has no MemorySize parameter")?;
    let memory_mb = lines
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .ok_or("the MemorySize parameter has no Default")?
        .trim()
        .parse()
        .map_err(|e| format!("the MemorySize default is not a number: {e}"))?;
    let has_type = |t: &str| template.lines().any(|l| l.trim() == format!("Type: {t}"));
    let api = if has_type("AWS::Serverless::HttpApi") || has_type("AWS::ApiGatewayV2::Api") {
        ApiType::Http
    } else if has_type("AWS::Serverless::Api") || has_type("AWS::ApiGateway::RestApi") {
        ApiType::Rest
    } else {
        return Err("template.yaml declares no API Gateway API".into());
    };
    Ok(Deployment { memory_mb, api })
}

/// One operation as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub operation: String,
    /// The median time the function spends on one request, in milliseconds.
    pub duration_ms: f64,
    /// DynamoDB request units per operation.
    pub units: RequestUnits,
    /// Mean bytes of one response: status line, headers and body.
    pub response_bytes: f64,
}

/// Dollars per million operations, by service.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    pub lambda: f64,
    pub dynamodb: f64,
    pub api_gateway: f64,
    pub cloudfront: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.lambda + self.dynamodb + self.api_gateway + self.cloudfront
    }
}

const MILLION: f64 = 1_000_000.0;
/// AWS bills data transfer by the binary gigabyte.
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// HTTP APIs meter each request in 512 KB increments.
const HTTP_API_METERING_BYTES: f64 = 512.0 * 1024.0;

/// The cost of a million operations like `m`.
pub fn per_million(m: &Measured, deployment: &Deployment, prices: &Prices) -> Cost {
    // Lambda bills duration rounded up to the millisecond, at the configured memory.
    let billed_seconds = m.duration_ms.ceil().max(1.0) / 1000.0;
    let gb_seconds = f64::from(deployment.memory_mb) / 1024.0 * billed_seconds;
    let lambda = MILLION * gb_seconds * prices.lambda_arm_gb_second + prices.lambda_million_requests;
    let dynamodb =
        m.units.read * prices.dynamodb_million_reads + m.units.write * prices.dynamodb_million_writes;
    let api_gateway = match deployment.api {
        ApiType::Http => {
            (m.response_bytes / HTTP_API_METERING_BYTES).ceil().max(1.0) * prices.http_api_million_requests
        }
        ApiType::Rest => prices.rest_api_million_requests,
    };
    let cloudfront = MILLION / 10_000.0 * prices.cloudfront_https_per_10k
        + MILLION * m.response_bytes / GB * prices.cloudfront_gb_out;
    Cost {
        lambda,
        dynamodb,
        api_gateway,
        cloudfront,
    }
}

/// The table `make bench` prints and docs/cost.md carries: one row per operation with its
/// measurements and its cost per million, by service.
pub fn table(rows: &[Measured], deployment: &Deployment, prices: &Prices) -> String {
    let api = match deployment.api {
        ApiType::Http => "HTTP API",
        ApiType::Rest => "REST API",
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Estimated cost per million operations, USD, us-east-1 list prices of {} (no free tier):",
        prices.taken
    );
    let _ = writeln!(
        out,
        "Lambda arm64 at {} MB, DynamoDB on-demand, API Gateway {api}, CloudFront (US/Canada/Mexico).",
        deployment.memory_mb
    );
    let _ = writeln!(
        out,
        "| {:<36} | {:>6} | {:>5} | {:>5} | {:>6} | {:>7} | {:>8} | {:>7} | {:>10} | {:>7} |",
        "operation", "ms", "RRU", "WRU", "bytes", "Lambda", "DynamoDB", "API GW", "CloudFront", "total"
    );
    let _ = writeln!(
        out,
        "|{:-<38}|{:->8}|{:->7}|{:->7}|{:->8}|{:->9}|{:->10}|{:->9}|{:->12}|{:->9}|",
        "", ":", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    for m in rows {
        let c = per_million(m, deployment, prices);
        let _ = writeln!(
            out,
            "| {:<36} | {:>6.1} | {:>5.1} | {:>5.1} | {:>6.0} | {:>7.2} | {:>8.2} | {:>7.2} | {:>10.2} | {:>7.2} |",
            m.operation,
            m.duration_ms,
            m.units.read,
            m.units.write,
            m.response_bytes,
            c.lambda,
            c.dynamodb,
            c.api_gateway,
            c.cloudfront,
            c.total()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "\
Parameters:
  Architecture:
    Type: String
    Default: arm64
  MemorySize:
    Type: Number
    Default: 512
    MinValue: 128
  Timeout:
    Default: 15
Resources:
  ScimHttpApi:
    Type: AWS::Serverless::HttpApi
";

    #[test]
    fn reads_memory_and_api_type_from_the_template() {
        assert_eq!(
            deployment_of(TEMPLATE),
            Ok(Deployment {
                memory_mb: 512,
                api: ApiType::Http
            })
        );
        let rest = TEMPLATE.replace("AWS::Serverless::HttpApi", "AWS::Serverless::Api");
        assert_eq!(deployment_of(&rest).map(|d| d.api), Ok(ApiType::Rest));
        assert!(deployment_of("Parameters:\n  Timeout:\n    Default: 3\n").is_err());
        assert!(deployment_of(&TEMPLATE.replace("Default: 512", "Default: big")).is_err());
    }

    #[test]
    fn the_template_in_this_repository_parses() {
        let d = deployment_of(include_str!("../../../template.yaml")).unwrap();
        assert!(d.memory_mb >= 128);
    }

    fn measured(duration_ms: f64, read: f64, write: f64, response_bytes: f64) -> Measured {
        Measured {
            operation: "op".into(),
            duration_ms,
            units: RequestUnits { read, write },
            response_bytes,
        }
    }

    #[test]
    fn costs_each_service_from_the_measurements() {
        let d = Deployment {
            memory_mb: 1024,
            api: ApiType::Http,
        };
        // 10 ms at 1 GB: 0.01 GB-s per request, 10,000 GB-s per million.
        let c = per_million(&measured(9.2, 1.0, 2.0, 1024.0), &d, &US_EAST_1);
        assert!((c.lambda - (10_000.0 * 0.000_013_333_4 + 0.20)).abs() < 1e-9);
        assert!((c.dynamodb - (0.125 + 2.0 * 0.625)).abs() < 1e-12);
        assert!((c.api_gateway - 1.00).abs() < 1e-12);
        // 1 KB per response: a million of them is 1e6 / 2^20 GB.
        let out = 1_000_000.0 * 1024.0 / GB * 0.085;
        assert!((c.cloudfront - (1.00 + out)).abs() < 1e-9);
        assert!((c.total() - (c.lambda + c.dynamodb + c.api_gateway + c.cloudfront)).abs() < 1e-12);
        // A response over 512 KB counts twice on an HTTP API; a REST API has its own price.
        let big = per_million(&measured(1.0, 0.0, 0.0, 600.0 * 1024.0), &d, &US_EAST_1);
        assert!((big.api_gateway - 2.00).abs() < 1e-12);
        let rest = Deployment {
            api: ApiType::Rest,
            ..d
        };
        assert!(
            (per_million(&measured(1.0, 0.0, 0.0, 1.0), &rest, &US_EAST_1).api_gateway - 3.50).abs() < 1e-12
        );
    }

    #[test]
    fn the_table_has_a_row_per_operation_and_names_the_prices_date() {
        let d = Deployment {
            memory_mb: 512,
            api: ApiType::Http,
        };
        let text = table(&[measured(5.0, 1.0, 0.0, 900.0)], &d, &US_EAST_1);
        assert!(text.contains("2026-12-06"));
        assert!(text.contains("512 MB"));
        assert_eq!(text.lines().filter(|l| l.starts_with("| op ")).count(), 1);
    }
}
