//! What SMS and mobile push share: one SNS client without SDK retries, and one reading
//! of SNS's error codes.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use super::{DeliveryError, FailureKind};

/// An SNS client whose SDK-level retries are off: a publish that timed out may have been
/// accepted, and retrying it inside the SDK would page twice. Herald's own backoff,
/// recorded on the row, is the only retry layer.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// SNS answers with awsQuery error codes (`EndpointDisabled`, `Throttled`...). A
/// disabled or deleted endpoint, or a number SNS refuses, will not start working by
/// retrying the same message.
pub fn classify<E: ProvideErrorMetadata, R>(err: SdkError<E, R>) -> DeliveryError {
    super::classify_sdk(err, "SNS", |_, code, message| classify_code(code, message))
}

pub fn classify_code(code: &str, message: &str) -> DeliveryError {
    let kind = match code.trim_end_matches("Exception") {
        "EndpointDisabled" | "NotFound" | "PlatformApplicationDisabled" => {
            FailureKind::AddressInvalid
        }
        "OptedOut" => FailureKind::OptedOut,
        "Throttled" | "Throttling" | "KMSThrottling" | "TooManyRequests" => {
            FailureKind::RateLimited
        }
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "RequestTimeout" => {
            FailureKind::Transient
        }
        "InvalidParameter" | "InvalidParameterValue"
            if message.to_ascii_lowercase().contains("phone") =>
        {
            FailureKind::AddressInvalid
        }
        _ => FailureKind::Permanent,
    };
    DeliveryError::new(kind, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_and_deleted_endpoints_fail_for_good() {
        for code in ["EndpointDisabled", "NotFound", "EndpointDisabledException"] {
            let e = classify_code(code, "Endpoint is disabled");
            assert_eq!(e.kind, FailureKind::AddressInvalid, "{code}");
            assert!(!e.retryable());
        }
    }

    #[test]
    fn throttling_and_outages_are_retried() {
        assert_eq!(
            classify_code("Throttled", "Rate exceeded").kind,
            FailureKind::RateLimited
        );
        assert_eq!(
            classify_code("InternalError", "oops").kind,
            FailureKind::Transient
        );
    }

    #[test]
    fn a_refused_number_is_an_invalid_address_and_other_refusals_are_permanent() {
        assert_eq!(
            classify_code(
                "InvalidParameter",
                "Invalid parameter: PhoneNumber Reason: +1555 is not valid"
            )
            .kind,
            FailureKind::AddressInvalid
        );
        assert_eq!(
            classify_code("InvalidParameter", "Invalid parameter: Message too long").kind,
            FailureKind::Permanent
        );
        assert_eq!(
            classify_code("AuthorizationError", "not authorized").kind,
            FailureKind::Permanent
        );
    }
}
