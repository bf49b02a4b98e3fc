//! The optional custom domain (`DeployCustomDomain = true`), as the quick start had it.
//!
//! ACM certificate validated by a DNS record in the given hosted zone, a regional API Gateway
//! domain name with TLS 1.2, the mapping of the domain's root to the stage, and an alias record
//! pointing the name at the domain's regional endpoint. The certificate's validation record is
//! created by this stack, so nothing has to be clicked in a console.

use pulumi_gestalt_rust::{Context, Output};

use crate::api::WebSocketApi;
use crate::aws::acm::certificate::{self, CertificateArgs};
use crate::aws::acm::certificate_validation::{self, CertificateValidationArgs};
use crate::aws::apigatewayv2::api_mapping::{self, ApiMappingArgs};
use crate::aws::apigatewayv2::domain_name::{self, DomainNameArgs, DomainNameResult};
use crate::aws::route53::record::{self, RecordArgs};
use crate::aws::types::acm::CertificateDomainValidationOption;
use crate::aws::types::apigatewayv2::DomainNameDomainNameConfiguration;
use crate::aws::types::route53::RecordAlias;
use crate::config::CustomDomain;
use crate::routes::Stage;

/// What the stack outputs need from the custom domain.
pub struct Domain {
    pub domain_name: Output<String>,
}

/// Certificate, domain name, API mapping and alias record.
pub fn declare(ctx: &Context, domain: &CustomDomain, api: &WebSocketApi, stage: &Stage) -> Domain {
    let certificate_arn = declare_validated_certificate(ctx, domain);
    let domain_name = declare_domain_name(ctx, domain, certificate_arn);
    map_to_stage(ctx, api, &domain_name, stage);
    declare_alias(ctx, domain, &domain_name);
    Domain {
        domain_name: domain_name.domain_name,
    }
}

/// The ACM certificate, its DNS validation record and the validation; returns the certificate
/// ARN, known once the certificate is issued.
fn declare_validated_certificate(ctx: &Context, domain: &CustomDomain) -> Output<String> {
    let certificate = certificate::create(
        ctx,
        "domain-certificate",
        CertificateArgs::builder()
            .domain_name(domain.domain_name.clone())
            .validation_method("DNS")
            .build_struct(),
    );
    // One name, so one validation option.
    let validation: Output<CertificateDomainValidationOption> =
        certificate.domain_validation_options.map(|options| {
            options
                .into_iter()
                .next()
                .unwrap_or_else(empty_validation_option)
        });
    let validation_record = record::create(
        ctx,
        "domain-certificate-validation-record",
        RecordArgs::builder()
            .zone_id(domain.hosted_zone_id.clone())
            .name(validation.map(|o| o.resource_record_name.unwrap_or_default()))
            .type_(validation.map(|o| o.resource_record_type.unwrap_or_default()))
            .records(validation.map(|o| vec![o.resource_record_value.unwrap_or_default()]))
            .ttl(60)
            .allow_overwrite(true)
            .build_struct(),
    );
    certificate_validation::create(
        ctx,
        "domain-certificate-validation",
        CertificateValidationArgs::builder()
            .certificate_arn(certificate.arn)
            .validation_record_fqdns(validation_record.fqdn.map(|fqdn| vec![fqdn]))
            .build_struct(),
    )
    .certificate_arn
}

/// The regional API Gateway domain name, serving TLS 1.2 with the validated certificate.
fn declare_domain_name(
    ctx: &Context,
    domain: &CustomDomain,
    certificate_arn: Output<String>,
) -> DomainNameResult {
    domain_name::create(
        ctx,
        "custom-domain",
        DomainNameArgs::builder()
            .domain_name(domain.domain_name.clone())
            .domain_name_configuration(certificate_arn.map(|certificate_arn| {
                DomainNameDomainNameConfiguration::builder()
                    .certificate_arn(certificate_arn)
                    .endpoint_type("REGIONAL".to_string())
                    .security_policy("TLS_1_2".to_string())
                    .build_struct()
            }))
            .build_struct(),
    )
}

/// Maps the domain's root to the stage.
fn map_to_stage(ctx: &Context, api: &WebSocketApi, domain_name: &DomainNameResult, stage: &Stage) {
    api_mapping::create(
        ctx,
        "custom-domain-mapping",
        ApiMappingArgs::builder()
            .api_id(api.id.clone())
            .domain_name(domain_name.id.clone())
            .stage(stage.name.clone())
            .build_struct(),
    );
}

/// The `A` alias record pointing the name at the domain's regional endpoint.
fn declare_alias(ctx: &Context, domain: &CustomDomain, domain_name: &DomainNameResult) {
    let configuration = domain_name.domain_name_configuration.clone();
    record::create(
        ctx,
        "custom-domain-alias",
        RecordArgs::builder()
            .zone_id(domain.hosted_zone_id.clone())
            .name(domain.domain_name.clone())
            .type_("A")
            .aliases(configuration.map(|c| {
                vec![
                    RecordAlias::builder()
                        .name(c.target_domain_name.unwrap_or_default())
                        .zone_id(c.hosted_zone_id.unwrap_or_default())
                        .evaluate_target_health(false)
                        .build_struct(),
                ]
            }))
            .build_struct(),
    );
}

fn empty_validation_option() -> CertificateDomainValidationOption {
    CertificateDomainValidationOption::builder().build_struct()
}
